import { Navigate, Outlet, useLocation } from 'react-router';

import { ErrorState, LoadingState } from '@/components/query-state';
import { ApiError } from '@/lib/api-client';
import { paths } from '@/lib/paths';

import { useMe } from '../api/get-me';

/** Renders the signed-in part of the app, or sends the visitor to sign in and back afterwards. */
export function RequireAuth() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <LoadingState label="Checking your session…" />;
  if (me.isError) {
    if (me.error instanceof ApiError && (me.error.status === 401 || me.error.status === 403)) {
      const params = new URLSearchParams({ next: `${location.pathname}${location.search}` });
      if (me.error.code === 'not_invited') params.set('reason', 'not_invited');
      return <Navigate to={`${paths.signIn.to()}?${params}`} replace />;
    }
    return <ErrorState error={me.error} onRetry={() => me.refetch()} />;
  }
  return <Outlet />;
}
