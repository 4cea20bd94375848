import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api, ApiError } from '@/lib/api-client';
import type { Me } from '@/lib/api-types';
import { firebaseSignIn, firebaseSignOut } from '@/lib/firebase';

import { getMe, meQueryKey } from './get-me';

export type PasswordCredentials = { username: string; password: string };
export type FirebaseCredentials = { email: string; password: string };

export const signInWithPassword = (credentials: PasswordCredentials) =>
  api.post<Me>('auth/login/', credentials, { skipUnauthorizedHandler: true });

export async function signInWithFirebase({ email, password }: FirebaseCredentials): Promise<Me> {
  await firebaseSignIn(email, password);
  try {
    return await getMe();
  } catch (error) {
    // A valid Firebase account without an invitation must not stay half signed in.
    await firebaseSignOut();
    throw error;
  }
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: { method: 'password'; credentials: PasswordCredentials } | { method: 'firebase'; credentials: FirebaseCredentials }) =>
      input.method === 'password' ? signInWithPassword(input.credentials) : signInWithFirebase(input.credentials),
    onSuccess: (me) => {
      // Queries only: clearing the mutation cache too would drop this mutation's own callbacks.
      queryClient.removeQueries();
      queryClient.setQueryData(meQueryKey, me);
    },
  });
}

const FIREBASE_MESSAGES: Record<string, string> = {
  'auth/invalid-credential': 'Wrong email or password.',
  'auth/invalid-login-credentials': 'Wrong email or password.',
  'auth/wrong-password': 'Wrong email or password.',
  'auth/user-not-found': 'Wrong email or password.',
  'auth/invalid-email': 'That does not look like an email address.',
  'auth/user-disabled': 'This account has been disabled. Contact your clinic administrator.',
  'auth/too-many-requests': 'Too many sign-in attempts. Wait a few minutes and try again.',
  'auth/network-request-failed': 'The sign-in service could not be reached. Check your connection.',
};

export const NOT_INVITED_MESSAGE =
  'Your account is valid, but no clinic has invited it to Naevus yet. Ask your clinic administrator for an invitation.';

export function signInErrorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'invalid_credentials') return 'Wrong username or password.';
    if (error.code === 'not_invited') return NOT_INVITED_MESSAGE;
    if (error.status === 429) return 'Too many sign-in attempts. Wait a few minutes and try again.';
    return error.message;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in FIREBASE_MESSAGES) return FIREBASE_MESSAGES[code];
  return 'Sign-in failed. Please try again.';
}
