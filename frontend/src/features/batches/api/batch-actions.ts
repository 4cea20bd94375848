import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Batch } from '@/lib/api-types';

import { batchQueryKey } from './get-batch';

export const cancelBatch = (batchId: number) => api.post<Batch>(`batches/${batchId}/cancel/`);
export const retryBatch = (batchId: number) => api.post<Batch>(`batches/${batchId}/retry/`);

function useBatchAction(batchId: number, action: (batchId: number) => Promise<Batch>) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => action(batchId),
    onSuccess: (batch) => {
      queryClient.setQueryData(batchQueryKey(batchId), batch);
      return queryClient.invalidateQueries({ queryKey: ['batches'] });
    },
  });
}

export const useCancelBatch = (batchId: number) => useBatchAction(batchId, cancelBatch);
export const useRetryBatch = (batchId: number) => useBatchAction(batchId, retryBatch);

/** Fetched through the API client so bearer-token sessions can download too; a plain link would carry no token. */
export async function downloadResultsCsv(batchId: number): Promise<void> {
  const blob = await api.blob(`batches/${batchId}/results.csv`);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = `naevus-batch-${batchId}-results.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}
