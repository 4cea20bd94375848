import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Me } from '@/lib/api-types';

export const meQueryKey = ['me'] as const;

export const getMe = (signal?: AbortSignal) => api.get<Me>('auth/me/', undefined, signal);

export const meQueryOptions = () =>
  queryOptions({ queryKey: meQueryKey, queryFn: ({ signal }) => getMe(signal), staleTime: 5 * 60_000, retry: false });

export const useMe = () => useQuery(meQueryOptions());
