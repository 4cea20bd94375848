// Every route the app knows, in one place, so links and the router cannot drift apart.
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
    to: (filter?: string) => (filter === undefined ? '/worklist' : `/worklist?filter=${encodeURIComponent(filter)}`),
  },
  worklistItem: {
    pattern: '/worklist/:lesionId',
    to: (lesionId: number, filter?: string) =>
      filter === undefined ? `/worklist/${lesionId}` : `/worklist/${lesionId}?filter=${encodeURIComponent(filter)}`,
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
