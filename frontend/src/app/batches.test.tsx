import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { Batch } from '@/lib/api-types';
import { batchResults, makeBatch } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, readMultipart, server } from '@/test/server';

const page = <T,>(results: T[]) => ({ count: results.length, next: null, previous: null, results });

/** Serves batch 31 as `states` in turn (the last one repeats); `set` replaces what is served from then on. */
function serveBatch(states: Batch[]) {
  let calls = 0;
  let current = [...states];
  server.use(
    http.get(api('batches/31/'), () => {
      const state = current[Math.min(calls, current.length - 1)];
      calls += 1;
      return HttpResponse.json(state);
    }),
    http.get(api('batches/31/results/'), () => HttpResponse.json(page(batchResults))),
  );
  return {
    calls: () => calls,
    set: (batch: Batch) => {
      current = [batch];
      calls = 0;
    },
  };
}

function fileInput(name: string): HTMLInputElement {
  const input = document.querySelector<HTMLInputElement>(`input[type="file"][name="${name}"]`);
  if (!input) throw new Error(`no file input named ${name}`);
  return input;
}

describe('bulk analysis', () => {
  it('uploads a zip with a patient mapping and opens the new batch', async () => {
    const posted: Awaited<ReturnType<typeof readMultipart>>[] = [];
    server.use(
      http.get(api('batches/'), () => HttpResponse.json(page([]))),
      http.post(api('batches/'), async ({ request }) => {
        posted.push(await readMultipart(request));
        return HttpResponse.json(makeBatch(), { status: 202 });
      }),
    );
    serveBatch([makeBatch()]);
    const { user, router } = renderApp('/batches');

    expect(await screen.findByText('No bulk analyses yet')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Name'), 'Tuesday clinic');
    await user.upload(fileInput('archive'), new File(['PK'], 'clinic.zip', { type: 'application/zip' }));
    await user.upload(
      fileInput('mapping'),
      new File(['file_name,mrn\n'], 'map.csv', { type: 'text/csv' }),
    );
    await user.click(screen.getByLabelText(/Create patients and lesions/));
    await user.click(screen.getByRole('button', { name: 'Start analysis' }));

    expect(await screen.findByRole('heading', { name: 'Tuesday clinic' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/batches/31');
    expect(posted).toEqual([
      {
        fields: { name: ['Tuesday clinic'], create_missing: ['true'] },
        files: { archive: ['clinic.zip'], mapping: ['map.csv'] },
      },
    ]);
  });

  it('refuses to start without a zip or images', async () => {
    server.use(http.get(api('batches/'), () => HttpResponse.json(page([]))));
    const { user } = renderApp('/batches');

    await user.click(await screen.findByRole('button', { name: 'Start analysis' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('Choose a zip archive or some images.');
  });

  it('shows live progress with rate and time left, and stops polling when the batch is done', async () => {
    const { calls } = serveBatch([
      makeBatch(),
      makeBatch({ done: 7, queued: 1, running: 1, eta_seconds: 10 }),
      makeBatch({ status: 'done', done: 9, failed: 1, queued: 0, running: 0, eta_seconds: null, finished_at: '2025-11-25T09:01:00Z' }),
    ]);
    renderApp('/batches/31');

    expect(await screen.findByText('5 / 10')).toBeInTheDocument();
    expect(screen.getByText('12.0 / min')).toBeInTheDocument();
    expect(screen.getByText('25 s')).toBeInTheDocument();
    expect(screen.getByRole('progressbar', { name: 'Analysed' })).toHaveAttribute('aria-valuenow', '40');
    expect(screen.getByRole('progressbar', { name: 'Failed' })).toHaveAttribute('aria-valuenow', '10');
    expect(within(screen.getByRole('main')).getByText('demo — not for clinical use')).toBeInTheDocument();
    expect(screen.getByRole('note', { name: 'Intended use' })).toBeInTheDocument();

    expect(await screen.findByText('10 / 10', {}, { timeout: 4000 })).toBeInTheDocument();
    expect(screen.getByText('done')).toBeInTheDocument();
    const settled = calls();
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(calls()).toBe(settled);
  });

  it('refreshes the results when the batch finishes, even when it finished before the next results poll', async () => {
    // The e2e screenshot's bug: six images done within a second, and every row still said "Analysing…".
    // The first read of the batch finds it running; by the next (a second later) it has finished.
    let batchReads = 0;
    let finished = false;
    const analysing = batchResults.map((row) => ({ ...row, status: 'running' as const, melanoma_probability: null, risk_category: null, error: null }));
    server.use(
      http.get(api('batches/31/'), () => {
        batchReads += 1;
        finished = batchReads > 1;
        return HttpResponse.json(
          finished ? makeBatch({ status: 'done', done: 10, failed: 0, queued: 0, running: 0, eta_seconds: null }) : makeBatch(),
        );
      }),
      http.get(api('batches/31/results/'), () => HttpResponse.json(page(finished ? batchResults : analysing))),
    );
    renderApp('/batches/31');

    const table = await screen.findByRole('table', { name: 'Batch results' });
    expect(await screen.findByText('done', {}, { timeout: 4000 })).toBeInTheDocument();

    await waitFor(() => expect(within(table).queryByText('Analysing…')).not.toBeInTheDocument());
    expect(within(table).getByText('91.0%')).toBeInTheDocument();
    expect(within(table).getByText('Failed: Not a decodable image')).toBeInTheDocument();
  });

  it('cancels a running batch', async () => {
    let cancelled = false;
    const batch = serveBatch([makeBatch()]);
    server.use(
      http.post(api('batches/31/cancel/'), () => {
        cancelled = true;
        batch.set(makeBatch({ status: 'cancelled', queued: 0, running: 0 }));
        return HttpResponse.json(makeBatch({ status: 'cancelled', queued: 0, running: 0 }));
      }),
    );
    const { user } = renderApp('/batches/31');

    await user.click(await screen.findByRole('button', { name: 'Cancel' }));

    expect(await screen.findByText('cancelled')).toBeInTheDocument();
    expect(cancelled).toBe(true);
    expect(screen.queryByRole('button', { name: 'Cancel' })).not.toBeInTheDocument();
  });

  it('retries the failed images of a finished batch', async () => {
    let retried = false;
    const batch = serveBatch([makeBatch({ status: 'done', done: 9, failed: 1, queued: 0, running: 0 })]);
    server.use(
      http.post(api('batches/31/retry/'), () => {
        retried = true;
        batch.set(makeBatch({ done: 9, failed: 0, queued: 1, running: 0 }));
        return HttpResponse.json(makeBatch({ done: 9, failed: 0, queued: 1, running: 0 }));
      }),
    );
    const { user } = renderApp('/batches/31');

    await user.click(await screen.findByRole('button', { name: 'Retry failed (1)' }));

    await waitFor(() => expect(retried).toBe(true));
    expect(await screen.findByText('running')).toBeInTheDocument();
  });

  it('lists results highest risk first with thumbnails, links to patients and failure reasons', async () => {
    serveBatch([makeBatch({ status: 'done' })]);
    renderApp('/batches/31');

    const table = await screen.findByRole('table', { name: 'Batch results' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((row) => within(row).getByText(/\.jpg$/).textContent)).toEqual([
      'ISIC_0000013.jpg',
      'ISIC_0000001.jpg',
      'broken.jpg',
    ]);
    expect(within(rows[0]).getByRole('img')).toHaveAttribute('src', '/api/v1/images/501/thumbnail/');
    expect(within(rows[0]).getByRole('link', { name: 'Open patient' })).toHaveAttribute('href', '/patients/7');
    expect(rows[0]).toHaveTextContent('91.0%');
    expect(rows[0]).toHaveTextContent('Refer');
    expect(rows[0]).toHaveTextContent('quality: retake advised (blurred)');
    expect(rows[1]).not.toHaveTextContent('retake advised');
    expect(rows[2]).toHaveTextContent('Failed: Not a decodable image');
    expect(within(rows[2]).queryByRole('img')).not.toBeInTheDocument();
  });

  it('shows a dash for rate and time left before the first image finishes', async () => {
    serveBatch([makeBatch({ done: 0, failed: 0, queued: 10, running: 0, rate_per_min: null, eta_seconds: null })]);
    renderApp('/batches/31');

    expect(await screen.findByText('0 / 10')).toBeInTheDocument();
    const rate = screen.getByText('Rate').nextElementSibling;
    expect(rate).toHaveTextContent('—');
  });

  it('downloads the results as CSV through the API client', async () => {
    serveBatch([makeBatch({ status: 'done' })]);
    const requested: string[] = [];
    server.use(
      http.get(api('batches/31/results.csv'), ({ request }) => {
        requested.push(new URL(request.url).pathname);
        return new HttpResponse('image_id,probability\n501,0.91\n', { headers: { 'Content-Type': 'text/csv' } });
      }),
    );
    const createObjectURL = vi.fn(() => 'blob:results');
    const revokeObjectURL = vi.fn();
    Object.assign(URL, { createObjectURL, revokeObjectURL });
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    const { user } = renderApp('/batches/31');

    await user.click(await screen.findByRole('button', { name: 'Download CSV' }));

    await waitFor(() => expect(click).toHaveBeenCalledTimes(1));
    expect(requested).toEqual(['/api/v1/batches/31/results.csv']);
    expect(createObjectURL).toHaveBeenCalledTimes(1);
    expect(revokeObjectURL).toHaveBeenCalledWith('blob:results');
    click.mockRestore();
  });
});
