import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import { env } from '@/lib/env';
import { leaveApp } from '@/lib/leave-app';
import { alice } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

vi.mock('@/lib/leave-app', () => ({ leaveApp: vi.fn() }));

const signedOut = () =>
  server.use(http.get(api('auth/me/'), () => HttpResponse.json({ code: 'not_authenticated', message: 'Sign in.' }, { status: 401 })));

describe('sign in with OpenID Connect', () => {
  afterEach(() => {
    env.oidc = null;
    vi.mocked(leaveApp).mockReset();
  });

  it('offers "Sign in with <provider>" when the server reports OIDC configured, starting at its sign-in path with next', async () => {
    env.oidc = { providerName: 'Clinic SSO', loginUrl: '/oidc/authenticate/' };
    signedOut();
    renderApp('/sign-in?next=%2Fworklist%3Ffilter%3Drefer');

    const link = await screen.findByRole('link', { name: 'Sign in with Clinic SSO' });
    expect(link).toHaveAttribute('href', '/oidc/authenticate/?next=%2Fworklist%3Ffilter%3Drefer');
    // The other ways in stay available beside it.
    expect(screen.getByLabelText('Username')).toBeInTheDocument();
  });

  it('never forwards a next that leaves the app', async () => {
    env.oidc = { providerName: 'Clinic SSO', loginUrl: '/oidc/authenticate/' };
    signedOut();
    renderApp('/sign-in?next=%2F%2Fevil.test%2F');

    const link = await screen.findByRole('link', { name: 'Sign in with Clinic SSO' });
    expect(link).toHaveAttribute('href', '/oidc/authenticate/?next=%2Fpatients');
  });

  it('shows no provider button when the server reports none', async () => {
    signedOut();
    renderApp('/sign-in');

    expect(await screen.findByLabelText('Username')).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: /^Sign in with/ })).not.toBeInTheDocument();
  });

  it('explains the refusal the callback sent the browser back with', async () => {
    env.oidc = { providerName: 'Clinic SSO', loginUrl: '/oidc/authenticate/' };
    signedOut();
    renderApp('/sign-in?reason=email_not_verified');

    expect(await screen.findByRole('status')).toHaveTextContent('has not verified your e-mail address');
  });

  it('sends the browser to the provider to end its session when the server asks for it on sign-out', async () => {
    const endSession = 'https://idp.test/end-session?id_token_hint=x';
    server.use(
      http.get(api('auth/me/'), () => HttpResponse.json(alice)),
      http.get(api('patients/'), () => HttpResponse.json({ count: 0, next: null, previous: null, results: [] })),
      http.post(api('auth/logout/'), () => HttpResponse.json({ redirect_url: endSession })),
    );
    const { user } = renderApp('/patients');

    await user.click(await screen.findByRole('button', { name: /^Account menu/ }));
    await user.click(await screen.findByRole('menuitem', { name: 'Sign out' }));

    await vi.waitFor(() => expect(leaveApp).toHaveBeenCalledWith(endSession));
  });

  it('stays in the app after a local sign-out', async () => {
    server.use(
      http.get(api('auth/me/'), () => HttpResponse.json(alice)),
      http.get(api('patients/'), () => HttpResponse.json({ count: 0, next: null, previous: null, results: [] })),
      http.post(api('auth/logout/'), () => new HttpResponse(null, { status: 204 })),
    );
    const { user } = renderApp('/patients');

    await user.click(await screen.findByRole('button', { name: /^Account menu/ }));
    await user.click(await screen.findByRole('menuitem', { name: 'Sign out' }));

    expect(await screen.findByText('You have signed out.')).toBeInTheDocument();
    expect(leaveApp).not.toHaveBeenCalled();
  });
});
