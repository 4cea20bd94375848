import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { WorklistLesion } from '@/lib/api-types';
import { makeHistory, makeImage, makeReview } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

/** Every document request the server saw, and the file name each download was saved under. */
function captureDownloads() {
  const requested: string[] = [];
  const saved: string[] = [];
  const serve = (body: string, type: string) => ({ request }: { request: Request }) => {
    requested.push(new URL(request.url).pathname);
    return new HttpResponse(body, { headers: { 'Content-Type': type } });
  };
  server.use(
    http.get(api('predictions/:id/report.pdf'), serve('%PDF-1.7', 'application/pdf')),
    http.get(api('patients/:id/report.pdf'), serve('%PDF-1.7', 'application/pdf')),
    http.get(api('reviews/:id/referral.pdf'), serve('%PDF-1.7', 'application/pdf')),
    http.get(api('predictions/:id/fhir/'), serve('{"resourceType":"Bundle"}', 'application/fhir+json')),
  );
  Object.assign(URL, { createObjectURL: vi.fn(() => 'blob:document'), revokeObjectURL: vi.fn() });
  const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    saved.push(this.download);
  });
  return { requested, saved, restore: () => click.mockRestore() };
}

// The first render of a file is the slowest (module graph, Mantine); on two shared cores it can take longer
// than the suite's 5 s for a findBy.
const FIRST_RENDER = { timeout: 20_000 };

describe('report downloads', () => {
  it('downloads the patient report and each analysed visit’s PDF and FHIR export from the case history', async () => {
    server.use(http.get(api('patients/7/history/'), () => HttpResponse.json(makeHistory())));
    const downloads = captureDownloads();
    const { user } = renderApp('/patients/7');

    await user.click(await screen.findByRole('button', { name: 'Patient report (PDF)' }, FIRST_RENDER));
    const visit = within(screen.getByRole('article', { name: 'Image 12' }));
    await user.click(visit.getByRole('button', { name: 'Visit report (PDF)' }));
    await user.click(visit.getByRole('button', { name: 'FHIR export (JSON)' }));

    await waitFor(() => expect(downloads.saved).toHaveLength(3));
    expect(downloads.requested).toEqual([
      '/api/v1/patients/7/report.pdf',
      '/api/v1/predictions/120/report.pdf',
      '/api/v1/predictions/120/fhir/',
    ]);
    expect(downloads.saved).toEqual(['naevus-patient-7.pdf', 'naevus-visit-120.pdf', 'naevus-visit-120.fhir.json']);
    downloads.restore();
  }, 60_000);

  it('shows the server’s refusal next to the button', async () => {
    server.use(
      http.get(api('patients/7/history/'), () => HttpResponse.json(makeHistory())),
      http.get(api('predictions/:id/report.pdf'), () =>
        HttpResponse.json({ code: 'not_analysed', message: 'There is no result to report yet.' }, { status: 409 }),
      ),
    );
    const { user } = renderApp('/patients/7');

    const visit = within(await screen.findByRole('article', { name: 'Image 12' }, FIRST_RENDER));
    await user.click(visit.getByRole('button', { name: 'Visit report (PDF)' }));

    expect(await visit.findByRole('alert')).toHaveTextContent('There is no result to report yet.');
  }, 60_000);

  it('offers the referral letter on a current urgent referral only', async () => {
    const lesion: WorklistLesion = {
      id: 5,
      label: 'Lesion L5',
      anatomic_site: 'torso',
      patient: { id: 7, mrn: 'MRN-7', name: 'Jean Dupont', age: 54, sex: 'male' },
      images: [makeImage({ id: 50, lesion_id: 5 })],
      outcomes: [],
      next_lesion_id: null,
    };
    const reviews = [
      makeReview({ id: 71, assessment: 'malignant', management: 'urgent_referral', agrees_with_model: true }),
      makeReview({ id: 72, kind: 'second', reader_email: 'erin@clinic-a.test', management: 'excise', assessment: 'suspicious' }),
    ];
    server.use(
      http.get(api('worklist/lesions/:id/'), () => HttpResponse.json(lesion)),
      http.get(api('predictions/:id/reviews/'), () =>
        HttpResponse.json({ prediction_id: 500, state: 'disagreement', withheld: 0, reviews }),
      ),
    );
    const downloads = captureDownloads();
    const { user } = renderApp('/worklist/5');

    const urgent = await screen.findByRole('article', { name: 'First read by bob@clinic-a.test' }, FIRST_RENDER);
    const excise = screen.getByRole('article', { name: 'Second read by erin@clinic-a.test' });
    expect(within(excise).queryByRole('button', { name: 'Referral letter (PDF)' })).toBeNull();
    await user.click(within(urgent).getByRole('button', { name: 'Referral letter (PDF)' }));

    await waitFor(() => expect(downloads.saved).toEqual(['naevus-referral-71.pdf']));
    expect(downloads.requested).toEqual(['/api/v1/reviews/71/referral.pdf']);
    downloads.restore();
  }, 60_000);
});
