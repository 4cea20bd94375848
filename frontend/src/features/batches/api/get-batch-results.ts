import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { BatchResult, Paginated } from '@/lib/api-types';

export const RESULTS_POLL_MS = 2000;
export const RESULTS_PAGE_SIZE = 50;

export const getBatchResults = (batchId: number, page: number, signal?: AbortSignal) =>
  api.get<Paginated<BatchResult>>(`batches/${batchId}/results/`, { page, page_size: RESULTS_PAGE_SIZE }, signal);

export const batchResultsQueryOptions = (batchId: number, page: number, live: boolean) =>
  queryOptions({
    queryKey: ['batches', batchId, 'results', page],
    queryFn: ({ signal }) => getBatchResults(batchId, page, signal),
    placeholderData: keepPreviousData,
    staleTime: live ? 0 : 10_000,
    refetchInterval: live ? RESULTS_POLL_MS : false,
  });

export const useBatchResults = (batchId: number, page: number, live: boolean) =>
  useQuery(batchResultsQueryOptions(batchId, page, live));
