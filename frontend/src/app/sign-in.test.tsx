import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import { alice, makePatient } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

const emptyPatients = { count: 0, next: null, previous: null, results: [] };

function signedOutBackend() {
  let signedIn = false;
  const logins: { body: unknown; csrf: string | null }[] = [];
  server.use(
    http.get(api('auth/me/'), () =>
      signedIn ? HttpResponse.json(alice) : HttpResponse.json({ code: 'not_authenticated', message: 'Sign in.' }, { status: 401 }),
    ),
    http.post(api('auth/login/'), async ({ request }) => {
      const body = (await request.json()) as { username: string; password: string };
      logins.push({ body, csrf: request.headers.get('X-CSRFToken') });
      if (body.password !== 'correct horse') {
        return HttpResponse.json({ code: 'invalid_credentials', message: 'Invalid credentials.' }, { status: 400 });
      }
      signedIn = true;
      return HttpResponse.json(alice);
    }),
    http.get(api('patients/'), () =>
      HttpResponse.json({ count: 1, next: null, previous: null, results: [makePatient()] }),
    ),
  );
  return logins;
}

describe('sign in', () => {
  it('names a clinic account by its e-mail in the account menu, not by its generated username', async () => {
    const clinicAccount = { ...alice, username: 'fb-xsqSJUFBOoCvByloGBPfmlUPMRim', first_name: '', last_name: '', email: 'dana@clinic-a.test' };
    server.use(
      http.get(api('auth/me/'), () => HttpResponse.json(clinicAccount)),
      http.get(api('patients/'), () => HttpResponse.json(emptyPatients)),
    );
    renderApp('/patients');

    expect(await screen.findByRole('button', { name: /^Account menu/ })).toHaveTextContent('dana@clinic-a.test');
  });

  it('sends a visitor without a session to sign in, then back to the page they asked for', async () => {
    const logins = signedOutBackend();
    const { user, router } = renderApp('/patients?search=Dup');

    await user.type(await screen.findByLabelText('Username'), 'alice');
    await user.type(screen.getByLabelText('Password'), 'correct horse');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('link', { name: 'Jean Dupont' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/patients');
    expect(router.state.location.search).toBe('?search=Dup');
    expect(logins).toEqual([{ body: { username: 'alice', password: 'correct horse' }, csrf: 'test-csrf-token' }]);
  });

  it('says so when the username or password is wrong', async () => {
    signedOutBackend();
    const { user } = renderApp('/sign-in');

    await user.type(await screen.findByLabelText('Username'), 'alice');
    await user.type(screen.getByLabelText('Password'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong username or password.');
  });

  it('asks the user to wait when sign-in attempts are throttled', async () => {
    signedOutBackend();
    server.use(
      http.post(api('auth/login/'), () =>
        HttpResponse.json({ code: 'throttled', message: 'Request was throttled.' }, { status: 429, headers: { 'Retry-After': '60' } }),
      ),
    );
    const { user } = renderApp('/sign-in');

    await user.type(await screen.findByLabelText('Username'), 'alice');
    await user.type(screen.getByLabelText('Password'), 'anything');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('Too many sign-in attempts');
  });

  it('validates empty fields without calling the server', async () => {
    const logins = signedOutBackend();
    const { user } = renderApp('/sign-in');

    await user.click(await screen.findByRole('button', { name: 'Sign in' }));

    expect(await screen.findByText('Enter your username')).toBeInTheDocument();
    expect(logins).toHaveLength(0);
  });

  it('explains that a valid account without an invitation cannot use the app', async () => {
    server.use(
      http.get(api('auth/me/'), () =>
        HttpResponse.json({ code: 'not_invited', message: 'No clinic has invited this account.' }, { status: 403 }),
      ),
    );
    renderApp('/patients');

    expect(await screen.findByText(/no clinic has invited it to Naevus yet/)).toBeInTheDocument();
  });

  it('returns to sign-in with an explanation when the session ends mid-use', async () => {
    let expired = false;
    server.use(
      http.get(api('patients/'), () =>
        expired
          ? HttpResponse.json({ code: 'not_authenticated', message: 'Session expired.' }, { status: 401 })
          : HttpResponse.json(emptyPatients),
      ),
    );
    const { user, router } = renderApp('/patients');
    expect(await screen.findByText('No patients yet')).toBeInTheDocument();

    expired = true;
    await user.type(screen.getByLabelText('Search patients'), 'x');

    expect(await screen.findByText('Your session has ended. Please sign in again.')).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/sign-in');
  });

  it('signs out from the account menu and clears the session on the server', async () => {
    const logouts: string[] = [];
    server.use(
      http.get(api('auth/me/'), () =>
        logouts.length > 0 ? HttpResponse.json({ code: 'not_authenticated' }, { status: 401 }) : HttpResponse.json(alice),
      ),
      http.get(api('patients/'), () => HttpResponse.json(emptyPatients)),
      http.post(api('auth/logout/'), ({ request }) => {
        logouts.push(request.headers.get('X-CSRFToken') ?? '');
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user, router, queryClient } = renderApp('/patients');

    await user.click(await screen.findByRole('button', { name: /^Account menu/ }));
    await user.click(await screen.findByRole('menuitem', { name: 'Sign out' }));

    expect(await screen.findByText('You have signed out.')).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/sign-in');
    expect(logouts).toEqual(['test-csrf-token']);
    await waitFor(() => expect(queryClient.getQueryData(['me'])).toBeUndefined());
  });
});
