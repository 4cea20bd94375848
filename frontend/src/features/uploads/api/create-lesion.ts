import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Lesion, LesionInput } from '@/lib/api-types';

export const createLesion = (patientId: number, input: LesionInput) =>
  api.post<Lesion>(`patients/${patientId}/lesions/`, input);

export function useCreateLesion(patientId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: LesionInput) => createLesion(patientId, input),
    // Lesion lists and the case history both include the new lesion.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['patients', patientId] }),
  });
}
