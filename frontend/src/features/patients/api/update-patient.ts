import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Patient, PatientPatch } from '@/lib/api-types';

export const updatePatient = (patientId: number, input: PatientPatch) =>
  api.patch<Patient>(`patients/${patientId}/`, input);

export function useUpdatePatient(patientId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: PatientPatch) => updatePatient(patientId, input),
    onSuccess: (patient) => {
      queryClient.setQueryData(['patients', patientId], patient);
      return queryClient.invalidateQueries({ queryKey: ['patients'] });
    },
  });
}
