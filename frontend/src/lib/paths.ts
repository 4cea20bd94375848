// Every route the app knows, in one place, so links and the router cannot drift apart.

/** A worklist queue in the address: its filter, and its order unless it is the default (risk). */
function queueQuery(filter?: string, sort?: string): string {
  const params = new URLSearchParams();
  if (filter !== undefined) params.set('filter', filter);
  if (sort !== undefined && sort !== 'risk') params.set('sort', sort);
  const query = params.toString();
  return query ? `?${query}` : '';
}

export const paths = {
  signIn: { pattern: '/sign-in', to: () => '/sign-in' },
  home: { pattern: '/', to: () => '/' },
  patients: { pattern: '/patients', to: () => '/patients' },
  patient: { pattern: '/patients/:patientId', to: (patientId: number) => `/patients/${patientId}` },
  patientEdit: { pattern: '/patients/:patientId/edit', to: (patientId: number) => `/patients/${patientId}/edit` },
  upload: {
    pattern: '/patients/:patientId/upload',
    to: (patientId: number, lesionId?: number) =>
      lesionId === undefined ? `/patients/${patientId}/upload` : `/patients/${patientId}/upload?lesion=${lesionId}`,
  },
  batches: { pattern: '/batches', to: () => '/batches' },
  batch: { pattern: '/batches/:batchId', to: (batchId: number) => `/batches/${batchId}` },
  worklist: {
    pattern: '/worklist',
    to: (filter?: string, sort?: string) => `/worklist${queueQuery(filter, sort)}`,
  },
  worklistItem: {
    pattern: '/worklist/:lesionId',
    to: (lesionId: number, filter?: string, sort?: string) => `/worklist/${lesionId}${queueQuery(filter, sort)}`,
  },
  comparison: {
    pattern: '/lesions/:lesionId/compare',
    /** Without `images`, the lesion's two latest visits. */
    to: (lesionId: number, images?: readonly [number, number]) =>
      images === undefined ? `/lesions/${lesionId}/compare` : `/lesions/${lesionId}/compare?images=${images[0]}&images=${images[1]}`,
  },
  models: { pattern: '/models', to: () => '/models' },
} as const;

export type PathName = keyof typeof paths;
