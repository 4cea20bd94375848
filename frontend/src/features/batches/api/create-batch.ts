import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Batch } from '@/lib/api-types';

export type BatchInput = {
  name: string;
  archive: File | null;
  files: File[];
  mapping: File | null;
  createMissing: boolean;
};

export function createBatch(input: BatchInput): Promise<Batch> {
  const form = new FormData();
  if (input.name.trim()) form.append('name', input.name.trim());
  if (input.archive) form.append('archive', input.archive);
  for (const file of input.files) form.append('files', file);
  if (input.mapping) form.append('mapping', input.mapping);
  if (input.createMissing) form.append('create_missing', 'true');
  return api.postForm<Batch>('batches/', form);
}

export function useCreateBatch() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createBatch,
    onSuccess: (batch) => {
      queryClient.setQueryData(['batches', batch.id], batch);
      return queryClient.invalidateQueries({ queryKey: ['batches', 'list'] });
    },
  });
}
