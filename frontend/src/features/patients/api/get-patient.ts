import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Patient } from '@/lib/api-types';

export const getPatient = (patientId: number, signal?: AbortSignal) =>
  api.get<Patient>(`patients/${patientId}/`, undefined, signal);

export const patientQueryOptions = (patientId: number) =>
  queryOptions({ queryKey: ['patients', patientId], queryFn: ({ signal }) => getPatient(patientId, signal) });

export const usePatient = (patientId: number) => useQuery(patientQueryOptions(patientId));
