import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { PatientHistory } from '@/lib/api-types';

export const historyQueryKey = (patientId: number) => ['patients', patientId, 'history'] as const;

export const getHistory = (patientId: number, signal?: AbortSignal) =>
  api.get<PatientHistory>(`patients/${patientId}/history/`, undefined, signal);

export const historyQueryOptions = (patientId: number) =>
  queryOptions({ queryKey: historyQueryKey(patientId), queryFn: ({ signal }) => getHistory(patientId, signal) });

export const useHistory = (patientId: number) => useQuery(historyQueryOptions(patientId));
