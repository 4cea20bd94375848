import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { ReviewList, WorklistItem, WorklistLesion } from '@/lib/api-types';
import { admin, alice, clinicalModel, makeImage, makePrediction, makeReview } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

const page = <T,>(results: T[]) => ({ count: results.length, next: null, previous: null, results });

function item(
  lesionId: number,
  overrides: Partial<WorklistItem['prediction']> = {},
  patient = 'Jean Dupont',
  crossed = false,
  outlier: number | null = null,
): WorklistItem {
  return {
    crossed_threshold_upward: crossed,
    outlier_score: outlier,
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

function reviewList(overrides: Partial<ReviewList> = {}): ReviewList {
  return { prediction_id: 500, state: 'unreviewed', withheld: 0, reviews: [], ...overrides };
}

describe('worklist', () => {
  it('lists the queue in the order the API gives, with counts in the navigation and on each queue', async () => {
    const asked: string[] = [];
    server.use(
      http.get(api('worklist/counts/'), () => HttpResponse.json({ unreviewed: 3, refer: 1, awaiting_second_read: 0, disagreement: 0, follow_up_due: 0, awaiting_biopsy: 0 })),
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

  it('marks a row whose latest visit crossed its threshold upward, keeps the order, and has an awaiting-biopsy queue', async () => {
    const asked: string[] = [];
    server.use(
      http.get(api('worklist/counts/'), () => HttpResponse.json({ unreviewed: 2, refer: 1, awaiting_second_read: 0, disagreement: 0, follow_up_due: 0, awaiting_biopsy: 4 })),
      http.get(api('worklist/'), ({ request }) => {
        asked.push(new URL(request.url).searchParams.get('filter') ?? '');
        return HttpResponse.json(
          page([item(5, { melanoma_probability: 0.91, risk_category: 'refer' }), item(6, { melanoma_probability: 0.52, risk_category: 'refer' }, 'Ana Silva', true)]),
        );
      }),
    );
    const { user, router } = renderApp('/worklist');

    const table = await screen.findByRole('table', { name: 'Worklist: Unreviewed' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((row) => within(row).getByRole('link').textContent)).toEqual(['Lesion L5', 'Lesion L6']);
    expect(within(rows[0]).queryByText('Crossed threshold upward')).toBeNull();
    expect(within(rows[1]).getByText('Crossed threshold upward')).toBeInTheDocument();

    expect(screen.getByLabelText('4 waiting')).toHaveTextContent('4');
    await user.click(screen.getByText('Awaiting biopsy'));
    expect(await screen.findByRole('table', { name: 'Worklist: Awaiting biopsy' })).toBeInTheDocument();
    expect(router.state.location.search).toBe('?filter=awaiting_biopsy');
    expect(asked).toContain('awaiting_biopsy');
  });

  it('sorts by the odd one out on request, shows each score, and walks that order from a lesion', async () => {
    const asked: string[] = [];
    const opened: string[] = [];
    server.use(
      http.get(api('worklist/counts/'), () => HttpResponse.json({ unreviewed: 2, refer: 0, awaiting_second_read: 0, disagreement: 0, follow_up_due: 0, awaiting_biopsy: 0 })),
      http.get(api('worklist/'), ({ request }) => {
        const sort = new URL(request.url).searchParams.get('sort') ?? '';
        asked.push(sort);
        const odd = item(8, { melanoma_probability: 0.1, risk_category: 'routine' }, 'Jean Dupont', false, 2.41);
        const usual = item(5, { melanoma_probability: 0.91, risk_category: 'refer' }, 'Jean Dupont', false, 0.87);
        return HttpResponse.json(page(sort === 'outlier' ? [odd, usual] : [usual, odd]));
      }),
      http.get(api('predictions/:id/reviews/'), () => HttpResponse.json(reviewList())),
      http.get(api('worklist/lesions/:id/'), ({ params, request }) => {
        opened.push(`${String(params.id)}:${new URL(request.url).searchParams.get('sort') ?? ''}`);
        return HttpResponse.json(params.id === '8' ? lesion(8, 5) : lesion(5, null));
      }),
    );
    const { user, router } = renderApp('/worklist');

    await screen.findByRole('table', { name: 'Worklist: Unreviewed' });
    await user.click(screen.getByRole('radio', { name: 'Odd one out' }));
    await waitFor(() => expect(router.state.location.search).toBe('?filter=unreviewed&sort=outlier'));
    const table = screen.getByRole('table', { name: 'Worklist: Unreviewed' });
    await waitFor(() =>
      expect(within(table).getAllByRole('row').slice(1).map((row) => within(row).getByRole('link').textContent)).toEqual(['Lesion L8', 'Lesion L5']),
    );
    expect(screen.getByLabelText('Odd-one-out score 2.41')).toBeInTheDocument();
    expect(screen.getByText(/not a diagnosis/)).toBeInTheDocument();
    expect(asked).toEqual(['risk', 'outlier']);

    await user.click(screen.getByRole('link', { name: 'Lesion L8' }));
    expect(await screen.findByRole('heading', { name: 'Lesion L8' })).toBeInTheDocument();
    await user.click(screen.getByRole('link', { name: 'Next lesion' }));
    expect(await screen.findByRole('heading', { name: 'Lesion L5' })).toBeInTheDocument();
    expect(router.state.location.search).toBe('?filter=unreviewed&sort=outlier');
    expect(opened).toEqual(['8:outlier', '5:outlier']);
  });

  it('opens the follow-up comparison from a lesion with two analysed visits', async () => {
    const twoVisits: WorklistLesion = { ...lesion(5, null), images: [makeImage({ id: 50, lesion_id: 5 }), makeImage({ id: 51, lesion_id: 5 })] };
    server.use(
      http.get(api('predictions/:id/reviews/'), () => HttpResponse.json(reviewList())),
      http.get(api('worklist/lesions/:id/'), ({ params }) => HttpResponse.json(params.id === '5' ? twoVisits : lesion(6, null))),
    );
    renderApp('/worklist/5');
    expect(await screen.findByRole('link', { name: 'Compare latest visits' })).toHaveAttribute('href', '/lesions/5/compare');
  });

  it('offers no comparison for a lesion with one visit', async () => {
    server.use(
      http.get(api('predictions/:id/reviews/'), () => HttpResponse.json(reviewList())),
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion(6, null))),
    );
    renderApp('/worklist/6');
    expect(await screen.findByRole('heading', { name: 'Lesion L6' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: /Compare/ })).toBeNull();
  });

  it('says so when nothing is waiting', async () => {
    server.use(http.get(api('worklist/'), () => HttpResponse.json(page([]))));
    renderApp('/worklist');
    expect(await screen.findByText('Nothing waiting')).toBeInTheDocument();
  });

  it('opens a lesion with its images and results and moves to the next one in the same queue', async () => {
    const opened: string[] = [];
    server.use(
      http.get(api('predictions/:id/reviews/'), () => HttpResponse.json(reviewList())),
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
        return HttpResponse.json({ unreviewed: 0, refer: 0, awaiting_second_read: 0, disagreement: 0, follow_up_due: 0, awaiting_biopsy: 0 });
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

  it('signs a review of the listed result: a draft, then its signature, with the follow-up date it needs', async () => {
    const posted: unknown[] = [];
    const signedIds: string[] = [];
    let list = reviewList();
    server.use(
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion(5, 6))),
      http.get(api('predictions/:id/reviews/'), ({ params }) => HttpResponse.json({ ...list, prediction_id: Number(params.id) })),
      http.post(api('predictions/:id/reviews/'), async ({ params, request }) => {
        posted.push({ prediction: params.id, body: await request.json() });
        return HttpResponse.json(makeReview({ id: 71, signed: false, signed_at: null, reader_id: alice.id }), { status: 201 });
      }),
      http.post(api('reviews/:id/sign/'), ({ params }) => {
        signedIds.push(String(params.id));
        const review = makeReview({ id: 71, reader_id: alice.id, reader_email: alice.email, assessment: 'suspicious', management: 'short_term_monitoring', follow_up_date: '2099-01-02', agrees_with_model: true });
        list = reviewList({ state: 'complete', reviews: [review] });
        return HttpResponse.json(review);
      }),
    );
    const { user } = renderApp('/worklist/5');

    const panel = await screen.findByRole('region', { name: 'Review' });
    expect(within(panel).getByText('Not reviewed yet')).toBeInTheDocument();
    await user.click(within(panel).getByRole('textbox', { name: 'Your assessment' }));
    await user.click(await screen.findByRole('option', { name: 'Suspicious' }));
    await user.click(within(panel).getByRole('textbox', { name: 'Management' }));
    await user.click(await screen.findByRole('option', { name: 'Short-term monitoring' }));
    // A monitoring decision needs its date: none is sent without one.
    await user.click(within(panel).getByRole('button', { name: 'Sign review' }));
    expect(await within(panel).findByText('Choose a follow-up date from today on')).toBeInTheDocument();
    expect(posted).toHaveLength(0);

    await user.type(within(panel).getByLabelText('Follow-up date'), '2099-01-02');
    await user.click(within(panel).getByRole('button', { name: 'Sign review' }));

    expect(await within(panel).findByText('Review complete')).toBeInTheDocument();
    // The item's result is the newest image's latest prediction (image 50's is 500).
    expect(posted).toEqual([
      {
        prediction: '500',
        body: { assessment: 'suspicious', management: 'short_term_monitoring', follow_up_date: '2099-01-02', notes: '', consensus: false },
      },
    ]);
    expect(signedIds).toEqual(['71']);
    expect(within(panel).getByRole('article', { name: `First read by ${alice.email}` })).toHaveTextContent('Short-term monitoring on');
    expect(within(panel).queryByRole('button', { name: 'Sign review' })).toBeNull();
  });

  it('tells a second reader that the first read is hidden, and shows the server’s refusal', async () => {
    server.use(
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion(5, null))),
      http.get(api('predictions/:id/reviews/'), () => HttpResponse.json(reviewList({ state: 'awaiting_second_read', withheld: 1 }))),
      http.post(api('predictions/:id/reviews/'), () =>
        HttpResponse.json({ code: 'same_reader', message: 'The first reader cannot be the second.' }, { status: 409 }),
      ),
    );
    const { user } = renderApp('/worklist/5');

    const panel = await screen.findByRole('region', { name: 'Review' });
    expect(within(panel).getByText('Awaiting a second read')).toBeInTheDocument();
    expect(within(panel).getByRole('note')).toHaveTextContent('A signed read is hidden until you sign your independent second read.');
    await user.click(within(panel).getByRole('button', { name: 'Sign review' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent('The first reader cannot be the second.');
  });

  it('offers a consensus note where readers disagree', async () => {
    server.use(
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion(5, null))),
      http.get(api('predictions/:id/reviews/'), () =>
        HttpResponse.json(
          reviewList({
            state: 'disagreement',
            reviews: [makeReview(), makeReview({ id: 72, kind: 'second', reader_id: 3, reader_email: 'carla@clinic-a.test', assessment: 'malignant', management: 'urgent_referral', agrees_with_model: true })],
          }),
        ),
      ),
    );
    renderApp('/worklist/5');

    const panel = await screen.findByRole('region', { name: 'Review' });
    expect(within(panel).getByText(/Readers disagree/)).toBeInTheDocument();
    expect(within(panel).getByRole('article', { name: 'First read by bob@clinic-a.test' })).toHaveTextContent('Disagrees with the model (refer)');
    expect(within(panel).getByRole('article', { name: 'Second read by carla@clinic-a.test' })).toHaveTextContent('Urgent referral');
    expect(within(panel).getByRole('checkbox', { name: /consensus note/ })).toBeInTheDocument();
  });

  it('keeps the first reader out of the second read', async () => {
    server.use(
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion(5, null))),
      http.get(api('predictions/:id/reviews/'), () =>
        HttpResponse.json(reviewList({ state: 'awaiting_second_read', reviews: [makeReview({ reader_id: alice.id, reader_email: alice.email })] })),
      ),
    );
    renderApp('/worklist/5');

    const panel = await screen.findByRole('region', { name: 'Review' });
    expect(await within(panel).findByRole('status')).toHaveTextContent('you cannot be its second reader');
    expect(within(panel).getByRole('article', { name: `First read by ${alice.email}` })).toBeInTheDocument();
    expect(within(panel).queryByRole('button', { name: 'Sign review' })).toBeNull();
  });
});
