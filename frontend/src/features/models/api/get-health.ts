import { queryOptions, useQuery } from '@tanstack/react-query';

import { ApiError, apiJson } from '@/lib/api-client';
import type { Health } from '@/lib/api-types';

export const healthQueryKey = ['health'] as const;

/** 503 still carries the health body (which part is down), so it is read rather than thrown. */
export async function getHealth(signal?: AbortSignal): Promise<Health> {
  try {
    return await apiJson<Health>('health/', { signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) {
      return { database: 'error', broker: 'error', model: null };
    }
    throw error;
  }
}

export const healthQueryOptions = () =>
  queryOptions({
    queryKey: healthQueryKey,
    queryFn: ({ signal }) => getHealth(signal),
    staleTime: 60_000,
    refetchInterval: 60_000,
  });

export const useHealth = () => useQuery(healthQueryOptions());
