import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { PaginatedBatches } from '@/lib/api-types';

export const BATCHES_PAGE_SIZE = 20;

export const getBatches = (page: number, signal?: AbortSignal) =>
  api.get<PaginatedBatches>('batches/', { page, page_size: BATCHES_PAGE_SIZE }, signal);

export const batchesQueryOptions = (page: number) =>
  queryOptions({ queryKey: ['batches', 'list', page], queryFn: ({ signal }) => getBatches(page, signal) });

export const useBatches = (page: number) => useQuery(batchesQueryOptions(page));
