import { MantineProvider } from '@mantine/core';
import { QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import { IdleSignOut } from '@/features/auth/components/idle-sign-out';
import { createQueryClient } from '@/lib/query-client';
import { api, server } from '@/test/server';

function renderIdle(timeoutMs: number) {
  const logouts: number[] = [];
  server.use(
    http.post(api('auth/logout/'), () => {
      logouts.push(Date.now());
      return new HttpResponse(null, { status: 204 });
    }),
  );
  const onSignedOut = vi.fn();
  render(
    <MantineProvider>
      <QueryClientProvider client={createQueryClient()}>
        <IdleSignOut timeoutMs={timeoutMs} onSignedOut={onSignedOut} />
      </QueryClientProvider>
    </MantineProvider>,
  );
  return { logouts, onSignedOut };
}

describe('idle sign-out', () => {
  it('signs the user out once the idle time passes without input', async () => {
    const { logouts, onSignedOut } = renderIdle(150);

    await waitFor(() => expect(onSignedOut).toHaveBeenCalledTimes(1));
    expect(logouts).toHaveLength(1);
  });

  it('keeps the user signed in while they keep typing', async () => {
    const { logouts, onSignedOut } = renderIdle(400);

    for (let i = 0; i < 6; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fireEvent.keyDown(document, { key: 'a' });
    }

    expect(onSignedOut).not.toHaveBeenCalled();
    expect(logouts).toHaveLength(0);
  });
});
