import '@testing-library/jest-dom/vitest';

import { Blob as NodeBlob, File as NodeFile } from 'node:buffer';

import { notifications } from '@mantine/notifications';
import { cleanup, configure } from '@testing-library/react';

import { setUnauthorizedHandler } from '@/lib/api-client';

import { server } from './server';

// CI shares two cores with a Django server and a worker; the 1 s default makes findBy* flaky under that load,
// and 5 s failed once (a case history that had not rendered when the suite ran right after the reliability
// suite, 1.6 s for the whole test here). A wait that is longer only when the answer is late: a missing element
// still fails, 10 s later. Below the 15 s test timeout (vite.config.ts), so the findBy's message is what shows.
configure({ asyncUtilTimeout: 10_000 });

// jsdom lacks the layout APIs Mantine relies on; these inert versions are enough for rendering.
Object.defineProperty(window, 'matchMedia', {
  writable: true,
  value: (query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => {},
    removeListener: () => {},
    addEventListener: () => {},
    removeEventListener: () => {},
    dispatchEvent: () => false,
  }),
});
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
window.ResizeObserver = ResizeObserverStub;
window.HTMLElement.prototype.scrollIntoView = () => {};
window.scrollTo = () => {};

// Node's fetch (which msw intercepts) cannot serialise jsdom's FormData and hangs; use Node's own classes,
// taking FormData from a Response since Node exposes no other handle on it once jsdom has replaced the global.
const NodeFormData = (await new Response(new URLSearchParams('a=b')).formData()).constructor as typeof FormData;
const JsdomFormData = globalThis.FormData;
// React 19 builds `new FormData(form, submitter)` itself when a form is submitted during a transition (a
// navigation, say); Node's FormData takes no form, so read the text fields with jsdom's and copy them across
// (the app sends files with FormData it builds itself, never through React's form actions).
class TestFormData extends NodeFormData {
  constructor(form?: HTMLFormElement, submitter?: HTMLElement | null) {
    super();
    if (form) {
      for (const [key, value] of new JsdomFormData(form, submitter)) {
        if (typeof value === 'string') this.append(key, value);
      }
    }
  }
}
Object.assign(globalThis, { FormData: TestFormData, File: NodeFile, Blob: NodeBlob });

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  cleanup();
  // The notifications store is module state and would otherwise carry toasts into the next test.
  notifications.clean();
  server.resetHandlers();
  setUnauthorizedHandler(null);
  document.cookie = 'csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
  window.localStorage.clear();
});
afterAll(() => server.close());
