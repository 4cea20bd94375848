import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { PaginatedPatients } from '@/lib/api-types';

export const PATIENTS_PAGE_SIZE = 20;

export type PatientsQuery = { search: string; page: number };

export const getPatients = ({ search, page }: PatientsQuery, signal?: AbortSignal) =>
  api.get<PaginatedPatients>('patients/', { search, page, page_size: PATIENTS_PAGE_SIZE }, signal);

export const patientsQueryOptions = (query: PatientsQuery) =>
  queryOptions({
    queryKey: ['patients', 'list', query],
    queryFn: ({ signal }) => getPatients(query, signal),
    // Keeps the table on screen while the next page or search loads instead of flashing a spinner.
    placeholderData: keepPreviousData,
  });

export const usePatients = (query: PatientsQuery) => useQuery(patientsQueryOptions(query));
