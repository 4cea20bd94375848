import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Patient, PatientInput } from '@/lib/api-types';

export const updatePatient = (patientId: number, input: Partial<PatientInput>) =>
  api.patch<Patient>(`patients/${patientId}/`, input);

export function useUpdatePatient(patientId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: Partial<PatientInput>) => updatePatient(patientId, input),
    onSuccess: (patient) => {
      queryClient.setQueryData(['patients', patientId], patient);
      return queryClient.invalidateQueries({ queryKey: ['patients'] });
    },
  });
}
