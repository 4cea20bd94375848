import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import { formatChange } from '@/features/comparison/components/comparison-page';
import type { Comparison, Visit } from '@/lib/api-types';
import { clinicalModel, makeHistory, makePrediction } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

function visit(imageId: number, visitAt: string, probability: number, threshold: number): Visit {
  return {
    image_id: imageId,
    visit_at: visitAt,
    width: imageId === 11 ? 600 : 300,
    height: imageId === 11 ? 450 : 600,
    file_url: `/api/v1/images/${imageId}/file/`,
    thumbnail_url: `/api/v1/images/${imageId}/thumbnail/`,
    prediction: makePrediction({
      id: imageId * 10,
      image_id: imageId,
      melanoma_probability: probability,
      threshold,
      risk_category: probability >= threshold ? 'refer' : 'routine',
      model_version: clinicalModel,
    }),
  };
}

const older = visit(12, '2025-06-01T09:00:00Z', 0.3, 0.5);
const newer = visit(11, '2025-11-20T10:00:00Z', 0.6, 0.5);
const oldest = visit(13, '2025-01-10T09:00:00Z', 0.2, 0.5);

function comparison(overrides: Partial<Comparison> = {}): Comparison {
  return {
    lesion_id: 21,
    lesion_label: 'Upper back, 7 mm',
    anatomic_site: 'torso',
    patient_id: 7,
    earlier: older,
    later: newer,
    probability_change: 0.3,
    days_between: 172,
    crossed_threshold_upward: true,
    visits: [newer, older, oldest],
    ...overrides,
  };
}

/** Answers the comparison route and records the `images` each request asked for. */
function serve(body: Comparison) {
  const asked: string[][] = [];
  server.use(
    http.get(api('lesions/21/comparison/'), ({ request }) => {
      asked.push(new URL(request.url).searchParams.getAll('images'));
      return HttpResponse.json(body);
    }),
  );
  return asked;
}

describe('follow-up comparison', () => {
  it('shows the two latest visits side by side in boxes of one size, both results, the change, the interval and the crossing', async () => {
    const asked = serve(comparison());
    renderApp('/lesions/21/compare');

    expect(await screen.findByRole('heading', { name: 'Follow-up comparison: Upper back, 7 mm' })).toBeInTheDocument();
    expect(asked).toEqual([[]]);
    const earlier = screen.getByRole('region', { name: 'Earlier visit' });
    const later = screen.getByRole('region', { name: 'Later visit' });
    expect(within(earlier).getByText('Melanoma probability 30.0%')).toBeInTheDocument();
    expect(within(later).getByText('Melanoma probability 60.0%')).toBeInTheDocument();
    expect(within(earlier).getByText('Threshold 50.0%')).toBeInTheDocument();
    expect(within(earlier).getByText(/Routine · 30\.0%/)).toBeInTheDocument();
    expect(within(later).getByText(/Refer · 60\.0%/)).toBeInTheDocument();
    expect(within(later).getByText('Model effnet-b3 v2')).toBeInTheDocument();
    // The earlier on the left: document order is reading order.
    expect(earlier.compareDocumentPosition(later) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();

    // Images of different shapes in boxes of the same CSS size, each scaled to fit.
    const boxes = screen.getAllByTestId('comparison-image-box');
    expect(boxes).toHaveLength(2);
    expect(boxes[0].style.height).toBe(boxes[1].style.height);
    expect(boxes[0].style.height).not.toBe('');
    for (const box of boxes) expect(within(box).getByRole('img')).toHaveStyle({ objectFit: 'contain' });
    expect(within(earlier).getByRole('img')).toHaveAttribute('src', '/api/v1/images/12/file/');

    const change = screen.getByRole('group', { name: 'Change between the visits' });
    expect(within(change).getByText('Crossed threshold upward')).toBeInTheDocument();
    expect(change).toHaveTextContent('+30.0 percentage points');
    expect(change).toHaveTextContent('172 days');
  });

  it('shows no crossing badge when the later result did not cross its threshold upward', async () => {
    serve(comparison({ earlier: newer, later: visit(14, '2025-12-01T10:00:00Z', 0.2, 0.5), probability_change: -0.4, days_between: 11, crossed_threshold_upward: false }));
    renderApp('/lesions/21/compare');

    const change = await screen.findByRole('group', { name: 'Change between the visits' });
    expect(change).toHaveTextContent('−40.0 percentage points');
    expect(change).toHaveTextContent('11 days');
    expect(screen.queryByText('Crossed threshold upward')).toBeNull();
  });

  it('shows the crossing from the flag the API computed, not from the risk categories', async () => {
    serve(comparison({ crossed_threshold_upward: false })); // routine then refer, but the API said no
    renderApp('/lesions/21/compare');

    await screen.findByRole('group', { name: 'Change between the visits' });
    expect(screen.queryByText('Crossed threshold upward')).toBeNull();
  });

  it('opens the two images named in the address and asks for another pair when one is chosen', async () => {
    const asked = serve(comparison());
    const { user, router } = renderApp('/lesions/21/compare?images=11&images=12');

    await screen.findByRole('heading', { name: /Follow-up comparison/ });
    expect(asked).toEqual([['11', '12']]);

    await user.selectOptions(screen.getByLabelText('Earlier image'), '13');
    expect(router.state.location.search).toBe('?images=13&images=11');
    await screen.findByRole('heading', { name: /Follow-up comparison/ });
    expect(asked.at(-1)).toEqual(['13', '11']);
  });

  it('is reached from the case history, with the two ticked images when two are ticked', async () => {
    serve(comparison());
    server.use(http.get(api('patients/7/history/'), () => HttpResponse.json(makeHistory())));
    const { user, router } = renderApp('/patients/7');

    const lesion = await screen.findByRole('region', { name: 'Upper back, 7 mm' });
    expect(within(lesion).getByRole('link', { name: 'Compare latest visits' })).toHaveAttribute('href', '/lesions/21/compare');
    await user.click(within(lesion).getByRole('checkbox', { name: /Compare image from .*Jun/ }));
    await user.click(within(lesion).getByRole('checkbox', { name: /Compare image from .*Nov/ }));
    await user.click(within(lesion).getByRole('link', { name: 'Compare the ticked visits' }));

    expect(await screen.findByRole('heading', { name: /Follow-up comparison/ })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/lesions/21/compare');
    expect(router.state.location.search).toBe('?images=12&images=11');
  });

  it('formats the change in percentage points', () => {
    expect(formatChange(0.3)).toBe('+30.0 percentage points');
    expect(formatChange(-0.125)).toBe('−12.5 percentage points');
    expect(formatChange(0.0001)).toBe('no change');
  });
});
