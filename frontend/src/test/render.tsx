import { createTheme, Popover } from '@mantine/core';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { createMemoryRouter } from 'react-router';

import { App } from '@/app/app';
import { routes } from '@/app/routes';
import { createQueryClient } from '@/lib/query-client';

// jsdom reports every element as zero-sized, which Popover reads as "reference scrolled away" and hides.
const testTheme = createTheme({ components: { Popover: Popover.extend({ defaultProps: { hideDetached: false } }) } });

/** Renders the whole app (providers, guard, shell) at `path`, as a browser landing on that URL would. */
export function renderApp(path: string) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  const queryClient = createQueryClient();
  const user = userEvent.setup();
  const view = render(<App router={router} queryClient={queryClient} themeOverride={testTheme} />);
  return { ...view, router, queryClient, user };
}
