import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { ModelVersion } from '@/lib/api-types';

export const modelsQueryKey = ['models'] as const;

export const getModels = (signal?: AbortSignal) => api.get<ModelVersion[]>('models/', undefined, signal);

export const modelsQueryOptions = () =>
  queryOptions({ queryKey: modelsQueryKey, queryFn: ({ signal }) => getModels(signal) });

export const useModels = () => useQuery(modelsQueryOptions());
