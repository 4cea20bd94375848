import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { WorklistItem, WorklistLesion } from '@/lib/api-types';
import { admin, clinicalModel, makeImage, makePrediction } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

const page = <T,>(results: T[]) => ({ count: results.length, next: null, previous: null, results });

function item(lesionId: number, overrides: Partial<WorklistItem['prediction']> = {}, patient = 'Jean Dupont'): WorklistItem {
  return {
    lesion_id: lesionId,
    lesion_label: `Lesion L${lesionId}`,
    anatomic_site: 'torso',
    patient: { id: 7, mrn: 'MRN-7', name: patient, age: 54, sex: 'male' },
    image_id: lesionId * 10,
    thumbnail_url: `/api/v1/images/${lesionId * 10}/thumbnail/`,
    waiting_since: '2025-11-20T10:00:01Z',
    prediction: makePrediction({ id: lesionId * 100, image_id: lesionId * 10, ...overrides }),
  };
}

function lesion(id: number, next: number | null): WorklistLesion {
  return {
    id,
    label: `Lesion L${id}`,
    anatomic_site: 'torso',
    patient: { id: 7, mrn: 'MRN-7', name: 'Jean Dupont', age: 54, sex: 'male' },
    images: [makeImage({ id: id * 10, lesion_id: id })],
    outcomes: [],
    next_lesion_id: next,
  };
}

describe('worklist', () => {
  it('lists the queue in the order the API gives, with counts in the navigation and on each queue', async () => {
    const asked: string[] = [];
    server.use(
      http.get(api('worklist/counts/'), () => HttpResponse.json({ unreviewed: 3, refer: 1 })),
      http.get(api('worklist/'), ({ request }) => {
        const filter = new URL(request.url).searchParams.get('filter') ?? '';
        asked.push(filter);
        return HttpResponse.json(
          filter === 'refer'
            ? page([item(5, { melanoma_probability: 0.91, risk_category: 'refer' })])
            : page([
                item(5, { melanoma_probability: 0.91, risk_category: 'refer' }),
                item(6, { melanoma_probability: 0.2, risk_category: 'routine', model_version: clinicalModel }, 'Ana Silva'),
                item(8, { melanoma_probability: 0.1, risk_category: 'routine' }),
              ]),
        );
      }),
    );
    const { user, router } = renderApp('/worklist');

    const nav = await screen.findByRole('navigation', { name: 'Main navigation' });
    expect(await within(nav).findByLabelText('3 unreviewed')).toHaveTextContent('3');
    const table = await screen.findByRole('table', { name: 'Worklist: Unreviewed' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((row) => within(row).getByRole('link').textContent)).toEqual(['Lesion L5', 'Lesion L6', 'Lesion L8']);
    expect(within(rows[0]).getByText(/Refer · 91\.0%/)).toBeInTheDocument();
    expect(within(rows[1]).getByText('Ana Silva')).toBeInTheDocument();
    // A demo model's result says so on its row; a clinical model's does not.
    expect(within(rows[0]).getByText(/demo — not for clinical use/i)).toBeInTheDocument();
    expect(within(rows[1]).queryByText(/demo — not for clinical use/i)).toBeNull();
    expect(asked).toEqual(['unreviewed']);

    await user.click(screen.getByText('Refer'));
    const refer = await screen.findByRole('table', { name: 'Worklist: Refer' });
    expect(within(refer).getAllByRole('row')).toHaveLength(2);
    expect(router.state.location.search).toBe('?filter=refer');
    expect(asked).toContain('refer');
  });

  it('says so when nothing is waiting', async () => {
    server.use(http.get(api('worklist/'), () => HttpResponse.json(page([]))));
    renderApp('/worklist');
    expect(await screen.findByText('Nothing waiting')).toBeInTheDocument();
  });

  it('opens a lesion with its images and results and moves to the next one in the same queue', async () => {
    const opened: string[] = [];
    server.use(
      http.get(api('worklist/lesions/:id/'), ({ params, request }) => {
        opened.push(`${String(params.id)}:${new URL(request.url).searchParams.get('filter') ?? ''}`);
        return HttpResponse.json(params.id === '5' ? lesion(5, 6) : lesion(6, null));
      }),
    );
    const { user, router } = renderApp('/worklist/5?filter=refer');

    expect(await screen.findByRole('heading', { name: 'Lesion L5' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Jean Dupont' })).toHaveAttribute('href', '/patients/7');
    expect(screen.getByRole('article', { name: 'Image 50' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Worklist: Refer' })).toHaveAttribute('href', '/worklist?filter=refer');

    await user.click(screen.getByRole('link', { name: 'Next lesion' }));
    expect(await screen.findByRole('heading', { name: 'Lesion L6' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/worklist/6');
    expect(screen.getByText('Last lesion in this queue')).toBeInTheDocument();
    expect(opened).toEqual(['5:refer', '6:refer']);
  });

  it('shows no worklist to an account without a clinic', async () => {
    let counted = 0;
    server.use(
      http.get(api('auth/me/'), () => HttpResponse.json({ ...admin, clinic: null })),
      http.get(api('worklist/counts/'), () => {
        counted += 1;
        return HttpResponse.json({ unreviewed: 0, refer: 0 });
      }),
      http.get(api('models/'), () => HttpResponse.json(page([]))),
      http.get(api('patients/'), () => HttpResponse.json(page([]))),
    );
    renderApp('/patients');
    const nav = await screen.findByRole('navigation', { name: 'Main navigation' });
    expect(await within(nav).findByText('Patients')).toBeInTheDocument();
    expect(within(nav).queryByText('Worklist')).toBeNull();
    expect(counted).toBe(0);
  });
});
