import { api } from '@/lib/api-client';
import type { HistoryImage, ImageKind } from '@/lib/api-types';

export const uploadImage = async (lesionId: number, file: File, kind: ImageKind): Promise<HistoryImage> => {
  const form = new FormData();
  form.append('files', file);
  form.append('kind', kind);
  const { images } = await api.postForm<{ images: HistoryImage[] }>(`lesions/${lesionId}/images/`, form);
  return images[0];
};
