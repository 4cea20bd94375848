import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api, ApiError } from '@/lib/api-client';
import type { Logout } from '@/lib/api-types';
import { firebaseSignOut, hasFirebaseUser } from '@/lib/firebase';
import { leaveApp } from '@/lib/leave-app';

export async function signOut(): Promise<void> {
  if (await hasFirebaseUser()) {
    await firebaseSignOut();
    return;
  }
  try {
    const ended = await api.post<Logout | undefined>('auth/logout/', undefined, { skipUnauthorizedHandler: true });
    // Signed in through OpenID Connect: the provider's session ends too (RP-initiated logout), and the
    // provider sends the browser back to the sign-in page.
    if (ended?.redirect_url) leaveApp(ended.redirect_url);
  } catch (error) {
    // Already signed out on the server (expired session): the goal is reached.
    if (!(error instanceof ApiError && (error.status === 401 || error.status === 403))) throw error;
  }
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: signOut,
    // Patient data must not outlive the session in memory, even if the server call failed.
    onSettled: () => queryClient.removeQueries(),
  });
}
