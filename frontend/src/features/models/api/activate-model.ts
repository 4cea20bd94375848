import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { ModelVersion } from '@/lib/api-types';

import { healthQueryKey } from './get-health';
import { modelsQueryKey } from './get-models';

export const activateModel = (modelId: number) => api.post<ModelVersion>(`models/${modelId}/activate/`);

export function useActivateModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: activateModel,
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: modelsQueryKey }),
        queryClient.invalidateQueries({ queryKey: healthQueryKey }),
      ]),
  });
}
