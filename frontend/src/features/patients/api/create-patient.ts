import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Patient, PatientInput } from '@/lib/api-types';

export const createPatient = (input: PatientInput) => api.post<Patient>('patients/', input);

export function useCreatePatient() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createPatient,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['patients', 'list'] }),
  });
}
