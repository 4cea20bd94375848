import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Review, ReviewInput, ReviewList } from '@/lib/api-types';

import { worklistKeys } from './get-worklist';

export const reviewsQueryKey = (predictionId: number) => ['reviews', predictionId] as const;

export const getReviews = (predictionId: number, signal?: AbortSignal) =>
  api.get<ReviewList>(`predictions/${predictionId}/reviews/`, undefined, signal);

export const useReviews = (predictionId: number) =>
  useQuery(queryOptions({ queryKey: reviewsQueryKey(predictionId), queryFn: ({ signal }) => getReviews(predictionId, signal) }));

/**
 * A review is written as a draft and then signed, which locks it; the form does both in one step, so what the
 * clinician submits is what is signed. A draft whose signing is refused (e.g. someone else took the read) stays
 * a draft of its author, visible to nobody else.
 */
export function useSignReview(predictionId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ input, draftId }: { input: ReviewInput; draftId: number | null }) => {
      // The reader's own open draft (left by a refused signing) is completed rather than duplicated.
      const draft =
        draftId === null
          ? await api.post<Review>(`predictions/${predictionId}/reviews/`, input)
          : await api.patch<Review>(`reviews/${draftId}/`, input);
      return api.post<Review>(`reviews/${draft.id}/sign/`);
    },
    onSettled: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: reviewsQueryKey(predictionId) }),
        queryClient.invalidateQueries({ queryKey: worklistKeys.all }),
      ]),
  });
}
