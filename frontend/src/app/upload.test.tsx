import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { Lesion } from '@/lib/api-types';
import { makeImage, makePrediction } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, readMultipart, server } from '@/test/server';

const jpeg = (name: string) => new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])], name, { type: 'image/jpeg' });
const existing: Lesion = { id: 21, patient_id: 7, anatomic_site: 'torso', label: 'Upper back, 7 mm', created_at: '2025-06-01T09:00:00Z' };

function fileInput(container: HTMLElement) {
  const input = container.querySelector<HTMLInputElement>('input[type="file"]');
  if (!input) throw new Error('no file input');
  return input;
}

describe('upload', () => {
  it('creates a new lesion, then shows each file’s own status from upload to result', async () => {
    const lesionsCreated: unknown[] = [];
    const uploads: { lesion: string; names: string[]; kind: string | null }[] = [];
    const polls = new Map<number, number>();
    server.use(
      http.get(api('patients/7/lesions/'), () => HttpResponse.json([])),
      http.post(api('patients/7/lesions/'), async ({ request }) => {
        lesionsCreated.push(await request.json());
        return HttpResponse.json({ ...existing, id: 30, anatomic_site: 'head/neck', label: 'Left cheek' }, { status: 201 });
      }),
      http.post(api('lesions/:lesionId/images/'), async ({ request, params }) => {
        const { files, fields } = await readMultipart(request);
        uploads.push({ lesion: String(params.lesionId), names: files.files, kind: fields.kind?.[0] ?? null });
        if (files.files[0] === 'notes.jpg') {
          return HttpResponse.json(
            { code: 'invalid_image', message: 'Invalid image.', fields: { files: ['notes.jpg is not a decodable image.'] } },
            { status: 400 },
          );
        }
        const queued = makePrediction({ id: 300, image_id: 40, status: 'queued', melanoma_probability: null, risk_category: null });
        return HttpResponse.json({ images: [makeImage({ id: 40, predictions: [queued] })] }, { status: 202 });
      }),
      http.get(api('predictions/300/'), () => {
        const n = (polls.get(300) ?? 0) + 1;
        polls.set(300, n);
        if (n < 3) return HttpResponse.json(makePrediction({ id: 300, status: 'running', melanoma_probability: null, risk_category: null }));
        return HttpResponse.json(makePrediction({ id: 300, melanoma_probability: 0.71 }));
      }),
    );
    const { user, container } = renderApp('/patients/7/upload');

    await user.type(await screen.findByLabelText('Lesion label'), 'Left cheek');
    await user.click(screen.getByRole('textbox', { name: /Anatomic site/ }));
    await user.click(await screen.findByRole('option', { name: 'head/neck' }));
    await user.upload(fileInput(container), [jpeg('lesion.jpg'), jpeg('notes.jpg')]);

    const list = await screen.findByRole('list', { name: 'Uploads' });
    const good = await within(list).findByRole('listitem', { name: 'lesion.jpg' });
    const bad = within(list).getByRole('listitem', { name: 'notes.jpg' });
    expect(await within(bad).findByRole('alert')).toHaveTextContent('notes.jpg is not a decodable image.');
    expect(within(bad).getByText('Failed')).toBeInTheDocument();
    expect(await within(good).findByText('Analysing…')).toBeInTheDocument();
    expect(await within(good).findByText('Melanoma probability 71.0%', {}, { timeout: 3000 })).toBeInTheDocument();
    expect(within(good).getByText('Done')).toBeInTheDocument();
    expect(within(good).getByText('demo — not for clinical use')).toBeInTheDocument();
    expect(screen.getByRole('note', { name: 'Intended use' })).toBeInTheDocument();

    expect(lesionsCreated).toEqual([{ anatomic_site: 'head/neck', label: 'Left cheek' }]);
    expect(uploads.map((u) => u.lesion)).toEqual(['30', '30']);
    expect(uploads.flatMap((u) => u.names).sort()).toEqual(['lesion.jpg', 'notes.jpg']);
    expect(uploads.every((u) => u.kind === 'dermoscopic')).toBe(true);
  });

  it('adds images to the lesion chosen in the case history', async () => {
    const targets: string[] = [];
    server.use(
      http.get(api('patients/7/lesions/'), () => HttpResponse.json([existing])),
      http.post(api('lesions/:lesionId/images/'), ({ params }) => {
        targets.push(String(params.lesionId));
        return HttpResponse.json({ images: [makeImage({ id: 41 })] }, { status: 202 });
      }),
    );
    const { user, container } = renderApp('/patients/7/upload?lesion=21');

    expect(await screen.findByRole('textbox', { name: 'Lesion' })).toHaveValue('Upper back, 7 mm — torso');
    await user.upload(fileInput(container), [jpeg('follow-up.jpg')]);

    const row = await screen.findByRole('listitem', { name: 'follow-up.jpg' });
    expect(await within(row).findByText('Melanoma probability 82.0%')).toBeInTheDocument();
    expect(targets).toEqual(['21']);
  });

  it('asks for the anatomic site before creating a new lesion', async () => {
    server.use(http.get(api('patients/7/lesions/'), () => HttpResponse.json([])));
    const { user, container } = renderApp('/patients/7/upload');

    await user.upload(fileInput(await screen.findByText('Drop images here, or click to choose').then(() => container)), [
      jpeg('a.jpg'),
    ]);

    expect(await screen.findByRole('alert')).toHaveTextContent('Choose the anatomic site of the new lesion.');
    expect(screen.queryByRole('list', { name: 'Uploads' })).not.toBeInTheDocument();
  });
});
