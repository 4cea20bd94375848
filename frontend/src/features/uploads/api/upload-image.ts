import { api } from '@/lib/api-client';
import type { ImageKind, ImageUploadResponse, StoredImage } from '@/lib/api-types';

export const uploadImage = async (lesionId: number, file: File, kind: ImageKind): Promise<StoredImage> => {
  const form = new FormData();
  form.append('files', file);
  form.append('kind', kind);
  const { images } = await api.postForm<ImageUploadResponse>(`lesions/${lesionId}/images/`, form);
  return images[0];
};
