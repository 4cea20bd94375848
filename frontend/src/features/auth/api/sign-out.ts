import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api, ApiError } from '@/lib/api-client';
import { firebaseSignOut, hasFirebaseUser } from '@/lib/firebase';

export async function signOut(): Promise<void> {
  if (await hasFirebaseUser()) {
    await firebaseSignOut();
    return;
  }
  try {
    await api.post<void>('auth/logout/', undefined, { skipUnauthorizedHandler: true });
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
