import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Comparison } from '@/lib/api-types';

export const comparisonKeys = {
  all: ['comparison'] as const,
  one: (lesionId: number, images: readonly number[] | null) => ['comparison', lesionId, images ?? 'latest'] as const,
};

/** `images`: two image ids of the lesion, in any order (the API puts the earlier first); null: its two latest visits. */
export const getComparison = (lesionId: number, images: readonly number[] | null, signal?: AbortSignal) =>
  api.get<Comparison>(`lesions/${lesionId}/comparison/`, images ? { images: [...images] } : undefined, signal);

export const useComparison = (lesionId: number, images: readonly number[] | null) =>
  useQuery(
    queryOptions({
      queryKey: comparisonKeys.one(lesionId, images),
      queryFn: ({ signal }) => getComparison(lesionId, images, signal),
    }),
  );
