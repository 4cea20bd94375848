import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { OutcomeInput, PatientHistory } from '@/lib/api-types';
import { makeHistory, makePrediction } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

function serveHistory(history: PatientHistory = makeHistory()) {
  server.use(http.get(api('patients/7/history/'), () => HttpResponse.json(history)));
  return history;
}

describe('case history', () => {
  it('groups lesions by anatomic site and shows each image’s prediction with the intended use', async () => {
    serveHistory();
    renderApp('/patients/7');

    expect(await screen.findByRole('heading', { name: 'Jean Dupont' })).toBeInTheDocument();
    expect(screen.getByRole('note', { name: 'Intended use' })).toHaveTextContent('Decision support only — not a diagnosis.');
    expect(screen.getByRole('heading', { name: 'torso' })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'lower extremity' })).toBeInTheDocument();

    const back = screen.getByRole('region', { name: 'Upper back, 7 mm' });
    const [newest, oldest] = within(back).getAllByRole('article');
    expect(newest).toHaveTextContent('Melanoma probability 82.0%');
    expect(newest).toHaveTextContent('Refer');
    expect(newest).toHaveTextContent('Referral threshold 35.0%');
    expect(newest).toHaveTextContent('Model effnet-lite0 v1');
    expect(within(newest).getByText('demo — not for clinical use')).toBeInTheDocument();
    expect(oldest).toHaveTextContent('Melanoma probability 12.0%');
    expect(oldest).toHaveTextContent('Routine');
    expect(within(oldest).queryByText('demo — not for clinical use')).not.toBeInTheDocument();

    const calf = screen.getByRole('region', { name: 'Left calf' });
    expect(calf).toHaveTextContent('Biopsy: benign');
    expect(calf).toHaveTextContent('No images yet');
  });

  it('says which of the patient’s fields a metadata-fusion model combined with the image', async () => {
    const history = makeHistory();
    const image = history.lesions[0].images[0];
    history.lesions[0].images[0] = {
      ...image,
      predictions: [makePrediction({ id: 110, image_id: image.id, metadata_used: ['age', 'sex', 'site'] })],
    };
    const other = history.lesions[0].images[1];
    history.lesions[0].images[1] = {
      ...other,
      predictions: [makePrediction({ id: 111, image_id: other.id, metadata_used: [] })],
    };
    serveHistory(history);
    renderApp('/patients/7');

    const back = await screen.findByRole('region', { name: 'Upper back, 7 mm' });
    const [fused, nothingKnown] = within(back).getAllByRole('article');
    expect(fused).toHaveTextContent('Scored from: image + age, sex, site');
    expect(nothingKnown).toHaveTextContent('Scored from: image only (no age, sex or site recorded)');
  });

  it('does not mention metadata for a model that scores the image alone', async () => {
    serveHistory();
    renderApp('/patients/7');
    const back = await screen.findByRole('region', { name: 'Upper back, 7 mm' });
    expect(back).not.toHaveTextContent('Scored from');
  });

  it('shows a diagnosis model’s probability per class, largest first, beside the melanoma triage', async () => {
    const history = makeHistory();
    const image = history.lesions[0].images[0];
    history.lesions[0].images[0] = {
      ...image,
      predictions: [
        makePrediction({
          id: 110,
          image_id: image.id,
          class_probabilities: { melanoma: 0.3, nevus: 0.6, 'benign keratosis': 0.095, dermatofibroma: 0.005 },
        }),
      ],
    };
    serveHistory(history);
    renderApp('/patients/7');
    const [newest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    const breakdown = within(newest).getByLabelText('Probability by diagnosis');
    expect(breakdown).toHaveTextContent(/nevus\s*60\.0%.*melanoma\s*30\.0%.*benign keratosis\s*9\.5%/);
    expect(breakdown).not.toHaveTextContent('dermatofibroma');
    expect(breakdown).toHaveTextContent('1 other classes below 1 %');
  });

  it('shows no class breakdown for a binary model', async () => {
    serveHistory();
    renderApp('/patients/7');
    const [newest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    expect(within(newest).queryByLabelText('Probability by diagnosis')).not.toBeInTheDocument();
  });

  it('overlays the heatmap on the image when toggled', async () => {
    serveHistory();
    const { user } = renderApp('/patients/7');
    const [newest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');

    expect(within(newest).queryByTestId('heatmap-overlay')).not.toBeInTheDocument();
    await user.click(within(newest).getByRole('switch', { name: 'Show heatmap' }));

    const overlay = within(newest).getByTestId('heatmap-overlay');
    expect(within(overlay).getByRole('img')).toHaveAttribute('src', '/api/v1/predictions/110/heatmap/');
  });

  it('follows a queued prediction until its result arrives', async () => {
    const history = makeHistory();
    const image = history.lesions[0].images[0];
    history.lesions[0].images[0] = {
      ...image,
      predictions: [
        makePrediction({ id: 110, image_id: image.id, status: 'queued', melanoma_probability: null, risk_category: null, heatmap_url: null }),
      ],
    };
    serveHistory(history);
    let polls = 0;
    server.use(
      http.get(api('predictions/110/'), () => {
        polls += 1;
        if (polls < 3) return HttpResponse.json(makePrediction({ id: 110, status: 'running', melanoma_probability: null, risk_category: null, heatmap_url: null }));
        return HttpResponse.json(makePrediction({ id: 110, melanoma_probability: 0.67 }));
      }),
    );
    renderApp('/patients/7');

    const [newest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    expect(await within(newest).findByText('Analysing…')).toBeInTheDocument();
    expect(within(newest).getByRole('switch', { name: 'Show heatmap' })).toBeDisabled();

    expect(await within(newest).findByText('Melanoma probability 67.0%', {}, { timeout: 3000 })).toBeInTheDocument();
    expect(within(newest).getByRole('switch', { name: 'Show heatmap' })).toBeEnabled();
    const settled = polls;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(polls).toBe(settled);
  });

  it('shows a failed prediction with its reason', async () => {
    const history = makeHistory();
    history.lesions[0].images[0] = {
      ...history.lesions[0].images[0],
      predictions: [
        makePrediction({ id: 110, status: 'failed', error: 'Image could not be decoded', melanoma_probability: null, risk_category: null }),
      ],
    };
    serveHistory(history);
    renderApp('/patients/7');

    const [newest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    expect(within(newest).getByRole('alert')).toHaveTextContent('Failed: Image could not be decoded');
  });

  it('marks a blurred image “retake advised” beside its score, and the clinician can dismiss the advice', async () => {
    const flagged = {
      ok: false,
      reasons: ['blurred' as const],
      label: 'quality: retake advised (blurred)',
      measures: { sharpness: 1.2 },
      dismissed: false,
      dismissed_at: null,
    };
    const history = makeHistory();
    history.lesions[0].images[0] = {
      ...history.lesions[0].images[0],
      predictions: [makePrediction({ id: 110, quality: flagged })],
    };
    serveHistory(history);
    let dismissed = false;
    server.use(
      http.post(api('predictions/110/quality/dismiss/'), () => {
        dismissed = true;
        return HttpResponse.json(
          makePrediction({ id: 110, quality: { ...flagged, dismissed: true, dismissed_at: '2025-11-21T08:00:00Z' } }),
        );
      }),
    );
    const { user } = renderApp('/patients/7');

    const [newest, oldest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    const advice = within(newest).getByTestId('quality-advice');
    expect(advice).toHaveTextContent('quality: retake advised (blurred)');
    expect(newest).toHaveTextContent('Melanoma probability 82.0%');
    expect(within(oldest).queryByTestId('quality-advice')).not.toBeInTheDocument();

    await user.click(within(advice).getByRole('button', { name: 'Dismiss: the image is adequate' }));
    await waitFor(() => expect(dismissed).toBe(true));
    expect(await within(newest).findByTestId('quality-dismissed')).toHaveTextContent(
      'quality: retake advised (blurred) — dismissed',
    );
    expect(within(newest).queryByTestId('quality-advice')).not.toBeInTheDocument();
  });

  it('warns in words when an image lies outside what the model was trained on', async () => {
    const history = makeHistory();
    history.lesions[0].images[0] = {
      ...history.lesions[0].images[0],
      predictions: [makePrediction({ id: 110, ood_score: 72.4, ood_flag: true })],
    };
    serveHistory(history);
    renderApp('/patients/7');

    const [newest, oldest] = within(await screen.findByRole('region', { name: 'Upper back, 7 mm' })).getAllByRole('article');
    expect(within(newest).getByTestId('ood-warning')).toHaveTextContent('Outside what this model was trained on');
    expect(newest).toHaveTextContent('Melanoma probability 82.0%');
    expect(within(oldest).queryByTestId('ood-warning')).not.toBeInTheDocument();
  });

  it('highlights the lesion most unlike the patient’s others, saying it is not a diagnosis', async () => {
    const history = makeHistory();
    history.lesions[0] = { ...history.lesions[0], outlier: { score: 1.8, rank: 1, lesions: 3, image_id: 11 } };
    history.lesions[1] = { ...history.lesions[1], outlier: { score: 0.9, rank: 2, lesions: 3, image_id: 30 } };
    serveHistory(history);
    renderApp('/patients/7');

    const back = await screen.findByRole('region', { name: 'Upper back, 7 mm' });
    const highlight = within(back).getByTestId('outlier-highlight');
    expect(highlight).toHaveTextContent("Odd one out: the most dissimilar of this patient's 3 lesions");
    expect(highlight).toHaveTextContent('within-patient dissimilarity, not a diagnosis');
    const calf = screen.getByRole('region', { name: 'Left calf' });
    expect(within(calf).queryByTestId('outlier-highlight')).not.toBeInTheDocument();
    expect(within(calf).getByTestId('outlier-score')).toHaveTextContent('rank 2 of 3');
  });

  it('puts two images of a lesion side by side, oldest first', async () => {
    serveHistory();
    const { user } = renderApp('/patients/7');
    const back = await screen.findByRole('region', { name: 'Upper back, 7 mm' });
    const [newest, oldest] = within(back).getAllByRole('article');

    await user.click(within(newest).getByRole('checkbox'));
    expect(within(back).queryByRole('region', { name: 'Side-by-side comparison' })).not.toBeInTheDocument();
    await user.click(within(oldest).getByRole('checkbox'));

    const comparison = within(back).getByRole('region', { name: 'Side-by-side comparison' });
    const images = within(comparison).getAllByRole('img');
    expect(images.map((img) => img.getAttribute('src'))).toEqual(['/api/v1/images/12/file/', '/api/v1/images/11/file/']);
  });

  it('records a biopsy outcome and shows it on the lesion', async () => {
    const history = serveHistory();
    const posted: OutcomeInput[] = [];
    server.use(
      http.post(api('lesions/21/outcomes/'), async ({ request }) => {
        const body = (await request.json()) as OutcomeInput;
        posted.push(body);
        const outcome = { id: 6, lesion_id: 21, notes: '', ...body, created_at: '2025-11-25T09:00:00Z' };
        history.lesions[0].outcomes.push(outcome);
        return HttpResponse.json(outcome, { status: 201 });
      }),
    );
    const { user } = renderApp('/patients/7');
    const back = await screen.findByRole('region', { name: 'Upper back, 7 mm' });

    await user.click(within(back).getByRole('button', { name: 'Record biopsy outcome' }));
    const form = within(back).getByRole('form', { name: 'Record biopsy outcome' });
    const diagnosis = within(form).getByRole('textbox', { name: 'Histopathological diagnosis' });
    await user.clear(diagnosis);
    await user.type(diagnosis, 'melan');
    await user.click(await screen.findByRole('option', { name: 'melanoma' }));
    const date = within(form).getByLabelText('Biopsy date');
    await user.clear(date);
    await user.type(date, '2025-11-22');
    await user.click(within(form).getByRole('button', { name: 'Save outcome' }));

    expect(await within(back).findByText('Biopsy: malignant')).toBeInTheDocument();
    expect(posted).toEqual([{ diagnosis: 'melanoma', benign_malignant: 'malignant', date: '2025-11-22', notes: '' }]);
    await waitFor(() => expect(within(back).queryByRole('form')).not.toBeInTheDocument());
  });

  it('says so when the patient does not exist or belongs to another clinic', async () => {
    server.use(
      http.get(api('patients/999/history/'), () => HttpResponse.json({ code: 'not_found', message: 'Not found.' }, { status: 404 })),
    );
    renderApp('/patients/999');

    expect(await screen.findByRole('alert')).toHaveTextContent('Not found.');
  });
});
