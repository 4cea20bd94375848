import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Batch } from '@/lib/api-types';

/** Batch counters move at most a few times a second; once a second is plenty for a progress bar. */
export const BATCH_POLL_MS = 1000;

export const batchQueryKey = (batchId: number) => ['batches', batchId] as const;

export const getBatch = (batchId: number, signal?: AbortSignal) =>
  api.get<Batch>(`batches/${batchId}/`, undefined, signal);

export const batchQueryOptions = (batchId: number) =>
  queryOptions({
    queryKey: batchQueryKey(batchId),
    queryFn: ({ signal }) => getBatch(batchId, signal),
    staleTime: 0,
    refetchInterval: (query) => (query.state.data?.status === 'running' ? BATCH_POLL_MS : false),
  });

export const useBatch = (batchId: number) => useQuery(batchQueryOptions(batchId));
