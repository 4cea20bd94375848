import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Outcome, OutcomeInput } from '@/lib/api-types';

import { historyQueryKey } from './get-history';

export const createOutcome = (lesionId: number, input: OutcomeInput) =>
  api.post<Outcome>(`lesions/${lesionId}/outcomes/`, input);

export function useCreateOutcome({ patientId, lesionId }: { patientId: number; lesionId: number }) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: OutcomeInput) => createOutcome(lesionId, input),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: historyQueryKey(patientId) }),
  });
}
