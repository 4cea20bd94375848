import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Lesion } from '@/lib/api-types';

export const lesionsQueryKey = (patientId: number) => ['patients', patientId, 'lesions'] as const;

export const getLesions = (patientId: number, signal?: AbortSignal) =>
  api.get<Lesion[]>(`patients/${patientId}/lesions/`, undefined, signal);

export const lesionsQueryOptions = (patientId: number) =>
  queryOptions({ queryKey: lesionsQueryKey(patientId), queryFn: ({ signal }) => getLesions(patientId, signal) });

export const useLesions = (patientId: number) => useQuery(lesionsQueryOptions(patientId));
