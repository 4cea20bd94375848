import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { BatchStatus, PaginatedBatchResults } from '@/lib/api-types';

export const RESULTS_POLL_MS = 2000;
export const RESULTS_PAGE_SIZE = 50;

export const getBatchResults = (batchId: number, page: number, signal?: AbortSignal) =>
  api.get<PaginatedBatchResults>(`batches/${batchId}/results/`, { page, page_size: RESULTS_PAGE_SIZE }, signal);

/**
 * The results follow the batch: polled while it runs, and keyed by its status so that they are read once
 * more the moment it finishes, is cancelled or is retried. A small batch finishes between two polls; without
 * the key its rows would stay "Analysing…" for good. Nothing is read before the batch's status is known.
 */
export const batchResultsQueryOptions = (batchId: number, page: number, batchStatus: BatchStatus | undefined) =>
  queryOptions({
    queryKey: ['batches', batchId, 'results', page, batchStatus],
    queryFn: ({ signal }) => getBatchResults(batchId, page, signal),
    enabled: batchStatus !== undefined,
    placeholderData: keepPreviousData,
    staleTime: batchStatus === 'running' ? 0 : 10_000,
    refetchInterval: batchStatus === 'running' ? RESULTS_POLL_MS : false,
  });

export const useBatchResults = (batchId: number, page: number, batchStatus: BatchStatus | undefined) =>
  useQuery(batchResultsQueryOptions(batchId, page, batchStatus));
