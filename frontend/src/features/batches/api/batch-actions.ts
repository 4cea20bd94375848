import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Batch } from '@/lib/api-types';
import { downloadFile } from '@/lib/download';

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

export const downloadResultsCsv = (batchId: number) =>
  downloadFile(`batches/${batchId}/results.csv`, `naevus-batch-${batchId}-results.csv`);
