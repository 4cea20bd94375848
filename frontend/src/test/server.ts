import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';

import { alice, demoModel } from './fixtures';

export const api = (path: string) => `*/api/v1/${path}`;

/** The baseline every test starts from: a signed-in clinician and a healthy backend with a demo model. */
export const defaultHandlers = [
  http.get(api('auth/me/'), () => HttpResponse.json(alice)),
  http.get(api('auth/csrf/'), () => {
    document.cookie = 'csrftoken=test-csrf-token; path=/';
    return HttpResponse.json({ csrfToken: 'test-csrf-token' });
  }),
  http.get(api('health/'), () => HttpResponse.json({ database: 'ok', broker: 'ok', model: demoModel })),
  // The navigation shows the worklist's counts on every screen.
  http.get(api('worklist/counts/'), () => HttpResponse.json({ unreviewed: 0, refer: 0, awaiting_second_read: 0, disagreement: 0, follow_up_due: 0, awaiting_biopsy: 0 })),
];

export const server = setupServer(...defaultHandlers);

export type MultipartSummary = { fields: Record<string, string[]>; files: Record<string, string[]> };

/**
 * Reads a multipart body into field values and file names. Node's own `request.formData()` trips an internal
 * assertion on bodies that passed through msw, so the parts are split by their boundary here instead.
 */
export async function readMultipart(request: Request): Promise<MultipartSummary> {
  const boundary = /boundary=(.+)$/.exec(request.headers.get('content-type') ?? '')?.[1];
  if (!boundary) throw new Error('not a multipart request');
  const text = await request.text();
  const summary: MultipartSummary = { fields: {}, files: {} };
  for (const part of text.split(`--${boundary}`)) {
    const [head, ...rest] = part.split('\r\n\r\n');
    const name = /name="([^"]+)"/.exec(head)?.[1];
    if (!name) continue;
    const fileName = /filename="([^"]*)"/.exec(head)?.[1];
    if (fileName !== undefined) (summary.files[name] ??= []).push(fileName);
    else (summary.fields[name] ??= []).push(rest.join('\r\n\r\n').replace(/\r\n$/, ''));
  }
  return summary;
}
