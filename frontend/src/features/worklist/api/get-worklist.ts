import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { PaginatedWorklist, WorklistCounts, WorklistFilter, WorklistLesion, WorklistSort } from '@/lib/api-types';

export const WORKLIST_PAGE_SIZE = 25;
/** Results arrive from the workers while a clinician works: the queue and its counts refresh every half minute. */
export const WORKLIST_REFRESH_MS = 30_000;

export const worklistKeys = {
  all: ['worklist'] as const,
  list: (filter: WorklistFilter, sort: WorklistSort, page: number) => ['worklist', 'list', filter, sort, page] as const,
  counts: () => ['worklist', 'counts'] as const,
  lesion: (lesionId: number, filter: WorklistFilter, sort: WorklistSort) =>
    ['worklist', 'lesion', lesionId, filter, sort] as const,
};

export const getWorklist = (filter: WorklistFilter, sort: WorklistSort, page: number, signal?: AbortSignal) =>
  api.get<PaginatedWorklist>('worklist/', { filter, sort, page, page_size: WORKLIST_PAGE_SIZE }, signal);

export const getWorklistCounts = (signal?: AbortSignal) => api.get<WorklistCounts>('worklist/counts/', undefined, signal);

export const getWorklistLesion = (lesionId: number, filter: WorklistFilter, sort: WorklistSort, signal?: AbortSignal) =>
  api.get<WorklistLesion>(`worklist/lesions/${lesionId}/`, { filter, sort }, signal);

export const useWorklist = (filter: WorklistFilter, sort: WorklistSort, page: number) =>
  useQuery(
    queryOptions({
      queryKey: worklistKeys.list(filter, sort, page),
      queryFn: ({ signal }) => getWorklist(filter, sort, page, signal),
      placeholderData: keepPreviousData,
      refetchInterval: WORKLIST_REFRESH_MS,
    }),
  );

export const useWorklistCounts = ({ enabled = true }: { enabled?: boolean } = {}) =>
  useQuery(
    queryOptions({
      queryKey: worklistKeys.counts(),
      queryFn: ({ signal }) => getWorklistCounts(signal),
      refetchInterval: WORKLIST_REFRESH_MS,
      enabled,
    }),
  );

export const useWorklistLesion = (lesionId: number, filter: WorklistFilter, sort: WorklistSort) =>
  useQuery(
    queryOptions({
      queryKey: worklistKeys.lesion(lesionId, filter, sort),
      queryFn: ({ signal }) => getWorklistLesion(lesionId, filter, sort, signal),
    }),
  );
