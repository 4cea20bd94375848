import { queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { OperatingPoint } from '@/lib/api-types';

export const operatingPointsQueryKey = ['operating-points'] as const;

/** The active operating points of the user's clinic (every clinic's for a superuser), with their local reports. */
export const getOperatingPoints = (signal?: AbortSignal) =>
  api.get<OperatingPoint[]>('operating-points/', undefined, signal);

export const operatingPointsQueryOptions = () =>
  queryOptions({ queryKey: operatingPointsQueryKey, queryFn: ({ signal }) => getOperatingPoints(signal) });

export const useOperatingPoints = () => useQuery(operatingPointsQueryOptions());
