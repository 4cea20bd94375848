import { Alert, Anchor, Button, Center, Divider, Paper, PasswordInput, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';

import { env } from '@/lib/env';
import { isFirebaseConfigured } from '@/lib/firebase';
import { paths } from '@/lib/paths';

import { signInErrorMessage, NOT_INVITED_MESSAGE, useSignIn } from '../api/sign-in';

const REASONS: Record<string, string> = {
  idle: 'You were signed out after a period of inactivity.',
  expired: 'Your session has ended. Please sign in again.',
  not_invited: NOT_INVITED_MESSAGE,
  signed_out: 'You have signed out.',
  // The OpenID Connect callback's refusals (portal/accounts/oidc.py).
  email_not_verified: 'Your identity provider has not verified your e-mail address, so no invitation can be matched to it.',
  account_disabled: 'This account has been disabled. Contact your clinic administrator.',
  oidc_expired: 'The sign-in took too long. Please try again.',
  oidc_failed: 'Signing in with your identity provider did not succeed. Please try again.',
  oidc_unavailable: 'Your identity provider could not be reached. Try again shortly.',
};
const REFUSALS = new Set(['not_invited', 'email_not_verified', 'account_disabled', 'oidc_expired', 'oidc_failed', 'oidc_unavailable']);

/** Only same-app paths: an open redirect through ?next= would be a phishing aid. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : paths.patients.to();
}

export function SignInPage() {
  const [searchParams] = useSearchParams();
  const navigate = useNavigate();
  const signIn = useSignIn();
  const firebase = isFirebaseConfigured();
  const [method, setMethod] = useState<'firebase' | 'password'>(firebase ? 'firebase' : 'password');
  const reason = searchParams.get('reason');
  const oidc = env.oidc;

  const passwordForm = useForm({
    initialValues: { username: '', password: '' },
    validate: {
      username: (value) => (value.trim() ? null : 'Enter your username'),
      password: (value) => (value ? null : 'Enter your password'),
    },
  });
  const firebaseForm = useForm({
    initialValues: { email: '', password: '' },
    validate: {
      email: (value) => (/^\S+@\S+$/.test(value) ? null : 'Enter your email address'),
      password: (value) => (value ? null : 'Enter your password'),
    },
  });

  const onSuccess = () => navigate(safeNext(searchParams.get('next')), { replace: true });

  const errorAlert = signIn.isError ? (
    <Alert color="red" role="alert" title="Could not sign in">
      {signInErrorMessage(signIn.error)}
    </Alert>
  ) : null;

  const passwordPanel = (
    <form
      onSubmit={passwordForm.onSubmit((credentials) =>
        signIn.mutate({ method: 'password', credentials }, { onSuccess }),
      )}
      noValidate
    >
      <Stack>
        <TextInput label="Username" autoComplete="username" autoFocus={!firebase} {...passwordForm.getInputProps('username')} />
        <PasswordInput label="Password" autoComplete="current-password" {...passwordForm.getInputProps('password')} />
        <Button type="submit" loading={signIn.isPending}>
          Sign in
        </Button>
      </Stack>
    </form>
  );

  const firebasePanel = (
    <form
      onSubmit={firebaseForm.onSubmit((credentials) =>
        signIn.mutate({ method: 'firebase', credentials }, { onSuccess }),
      )}
      noValidate
    >
      <Stack>
        <TextInput label="Email" type="email" autoComplete="email" autoFocus {...firebaseForm.getInputProps('email')} />
        <PasswordInput label="Password" autoComplete="current-password" {...firebaseForm.getInputProps('password')} />
        <Button type="submit" loading={signIn.isPending}>
          Sign in with clinic account
        </Button>
      </Stack>
    </form>
  );

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" radius="md" w="100%" maw={420}>
        <Stack>
          <div>
            <Title order={1} size="h2">
              Naevus
            </Title>
            <Text c="dimmed" size="sm">
              Melanoma triage support for clinicians
            </Text>
          </div>
          {reason && REASONS[reason] && !signIn.isError ? (
            <Alert color={REFUSALS.has(reason) ? 'orange' : 'blue'} role="status">
              {REASONS[reason]}
            </Alert>
          ) : null}
          {errorAlert}
          {oidc ? (
            <>
              {/* A full-page navigation: the provider's sign-in page, then Django's callback, then `next`. */}
              <Button component="a" href={`${oidc.loginUrl}?${new URLSearchParams({ next: safeNext(searchParams.get('next')) })}`} size="md">
                Sign in with {oidc.providerName}
              </Button>
              <Divider label="or" labelPosition="center" />
            </>
          ) : null}
          {firebase ? (
            <Tabs
              value={method}
              onChange={(value) => {
                signIn.reset();
                setMethod(value === 'password' ? 'password' : 'firebase');
              }}
            >
              <Tabs.List grow>
                <Tabs.Tab value="firebase">Clinic account</Tabs.Tab>
                <Tabs.Tab value="password">Local account</Tabs.Tab>
              </Tabs.List>
              <Tabs.Panel value="firebase" pt="md">
                {firebasePanel}
              </Tabs.Panel>
              <Tabs.Panel value="password" pt="md">
                {passwordPanel}
              </Tabs.Panel>
            </Tabs>
          ) : (
            passwordPanel
          )}
          <Text size="xs" c="dimmed">
            Decision support only — not a diagnosis. Trouble signing in?{' '}
            <Anchor size="xs" href="mailto:" underline="always">
              Contact your clinic administrator.
            </Anchor>
          </Text>
        </Stack>
      </Paper>
    </Center>
  );
}
