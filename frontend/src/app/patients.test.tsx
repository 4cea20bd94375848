import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import type { PatientInput } from '@/lib/api-types';
import { makeHistory, makePatient } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

const page = <T,>(results: T[], count = results.length) => ({ count, next: null, previous: null, results });

describe('patients list', () => {
  it('shows each patient’s MRN, name, age, last visit and highest current risk', async () => {
    server.use(
      http.get(api('patients/'), () =>
        HttpResponse.json(
          page([
            makePatient(),
            makePatient({ id: 8, mrn: 'MRN-0008', name: 'Ana Silva', age: 33, highest_risk: null, last_visit: null }),
          ]),
        ),
      ),
    );
    renderApp('/patients');

    const table = await screen.findByRole('table', { name: 'Patients' });
    const [, first, second] = within(table).getAllByRole('row');
    expect(first).toHaveTextContent('MRN-0007');
    expect(first).toHaveTextContent('Jean Dupont');
    expect(first).toHaveTextContent('64');
    expect(first).toHaveTextContent('Refer · 82.0%');
    expect(second).toHaveTextContent('Ana Silva');
    expect(second).toHaveTextContent('Not analysed');
  });

  it('searches by MRN or name on the server and says when nothing matches', async () => {
    const searches: (string | null)[] = [];
    server.use(
      http.get(api('patients/'), ({ request }) => {
        const search = new URL(request.url).searchParams.get('search');
        searches.push(search);
        return HttpResponse.json(search ? page([]) : page([makePatient()]));
      }),
    );
    const { user } = renderApp('/patients');
    await screen.findByRole('link', { name: 'Jean Dupont' });

    await user.type(screen.getByLabelText('Search patients'), 'zzz');

    expect(await screen.findByText('No matching patients')).toBeInTheDocument();
    expect(searches.at(-1)).toBe('zzz');
  });

  it('pages through a long list', async () => {
    const pages: string[] = [];
    server.use(
      http.get(api('patients/'), ({ request }) => {
        const params = new URL(request.url).searchParams;
        pages.push(`${params.get('page')}/${params.get('page_size')}`);
        const n = Number(params.get('page'));
        return HttpResponse.json(page([makePatient({ id: n, name: `Patient on page ${n}` })], 45));
      }),
    );
    const { user } = renderApp('/patients');
    await screen.findByText('Patient on page 1');

    await user.click(screen.getByRole('button', { name: '3' }));

    expect(await screen.findByText('Patient on page 3')).toBeInTheDocument();
    expect(pages).toEqual(['1/20', '3/20']);
  });

  it('shows an error with a retry when the list cannot be loaded', async () => {
    let fail = true;
    server.use(
      http.get(api('patients/'), () =>
        fail
          ? HttpResponse.json({ code: 'permission_denied', message: 'Not allowed here.' }, { status: 403 })
          : HttpResponse.json(page([makePatient()])),
      ),
    );
    const { user } = renderApp('/patients');

    expect(await screen.findByRole('alert')).toHaveTextContent('Not allowed here.');
    fail = false;
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('link', { name: 'Jean Dupont' })).toBeInTheDocument();
  });

  it('creates a patient and opens their case history', async () => {
    const created: PatientInput[] = [];
    server.use(
      http.get(api('patients/'), () => HttpResponse.json(page([]))),
      http.post(api('patients/'), async ({ request }) => {
        const body = (await request.json()) as PatientInput;
        created.push(body);
        return HttpResponse.json(makePatient({ id: 42, ...body }), { status: 201 });
      }),
      http.get(api('patients/42/history/'), () =>
        HttpResponse.json({ patient: makePatient({ id: 42, name: 'Mia Novak', mrn: 'MRN-42' }), lesions: [] }),
      ),
    );
    const { user, router } = renderApp('/patients');

    await user.click(await screen.findByRole('button', { name: 'New patient' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/MRN/), ' MRN-42 ');
    await user.type(within(dialog).getByLabelText(/Name/), 'Mia Novak');
    await user.type(within(dialog).getByLabelText('Birth year'), '1990');
    await user.click(within(dialog).getByRole('button', { name: 'Create patient' }));

    expect(await screen.findByRole('heading', { name: 'Mia Novak' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/patients/42');
    expect(created).toEqual([{ mrn: 'MRN-42', name: 'Mia Novak', sex: 'unknown', birth_year: 1990, notes: '' }]);
  });

  it('shows the server’s validation error next to the field', async () => {
    server.use(
      http.get(api('patients/'), () => HttpResponse.json(page([]))),
      http.post(api('patients/'), () =>
        HttpResponse.json(
          { code: 'invalid', message: 'Invalid input.', fields: { mrn: ['A patient with this MRN already exists.'] } },
          { status: 400 },
        ),
      ),
    );
    const { user } = renderApp('/patients');

    await user.click(await screen.findByRole('button', { name: 'New patient' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/MRN/), 'MRN-0007');
    await user.type(within(dialog).getByLabelText(/Name/), 'Someone');
    await user.click(within(dialog).getByRole('button', { name: 'Create patient' }));

    expect(await within(dialog).findByText('A patient with this MRN already exists.')).toBeInTheDocument();
    expect(within(dialog).getByLabelText(/MRN/)).toHaveAttribute('aria-invalid', 'true');
  });

  it('edits a patient and returns to the case history', async () => {
    const patches: unknown[] = [];
    let patient = makePatient();
    server.use(
      http.get(api('patients/7/'), () => HttpResponse.json(patient)),
      http.patch(api('patients/7/'), async ({ request }) => {
        const body = (await request.json()) as Partial<PatientInput>;
        patches.push(body);
        patient = { ...patient, ...body };
        return HttpResponse.json(patient);
      }),
      http.get(api('patients/7/history/'), () => HttpResponse.json({ ...makeHistory(), patient })),
    );
    const { user, router } = renderApp('/patients/7/edit');

    const notes = await screen.findByLabelText('Notes');
    await user.type(notes, 'Family history of melanoma');
    await user.click(screen.getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(router.state.location.pathname).toBe('/patients/7'));
    // The case history first (its heading), then the saved notes on it: a failure says which was missing.
    expect(await screen.findByRole('heading', { name: 'Jean Dupont' })).toBeInTheDocument();
    expect(screen.getByText('Family history of melanoma')).toBeInTheDocument();
    expect(patches).toEqual([
      { mrn: 'MRN-0007', name: 'Jean Dupont', sex: 'male', birth_year: 1961, notes: 'Family history of melanoma' },
    ]);
  });
});
