import { api } from './api-client';

/** Fetched through the API client so bearer-token sessions can download too; a plain link would carry no token. */
export async function downloadFile(path: string, filename: string): Promise<void> {
  const blob = await api.blob(path);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}
