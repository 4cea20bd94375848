import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';

import { ApiError, apiJson } from '@/lib/api-client';
import type { Health, ModelVersionBrief } from '@/lib/api-types';

export const healthQueryKey = ['health'] as const;

// The schema leaves `model` a free-form object (an inline DictField), so its shape is checked here: a
// changed payload then reads "No active model" instead of "Model undefined vundefined".
const modelBrief = z.object({ id: z.number(), name: z.string(), version: z.string(), is_demo: z.boolean() });

export type ServiceHealth = Omit<Health, 'model'> & { model: ModelVersionBrief | null };

const DOWN: ServiceHealth = { database: 'error', broker: 'error', model: null };

/** 503 still carries the health body (which part is down), so it is read rather than thrown. */
export async function getHealth(signal?: AbortSignal): Promise<ServiceHealth> {
  try {
    const health = await apiJson<Health>('health/', { signal });
    const model = modelBrief.safeParse(health.model);
    return { ...health, model: model.success ? model.data : null };
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) return DOWN;
    throw error;
  }
}

export const healthQueryOptions = () =>
  queryOptions({
    queryKey: healthQueryKey,
    queryFn: ({ signal }) => getHealth(signal),
    staleTime: 60_000,
    refetchInterval: 60_000,
  });

export const useHealth = () => useQuery(healthQueryOptions());
