import { Alert, Anchor, Button, Group, Paper, SegmentedControl, Select, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';

import { IntendedUse } from '@/components/intended-use';
import { ErrorState, LoadingState } from '@/components/query-state';
import { ApiError } from '@/lib/api-client';
import type { AnatomicSite, ImageKind } from '@/lib/api-types';
import { ANATOMIC_SITES, UPLOAD_IMAGE_TYPES } from '@/lib/vocabulary';
import { paths } from '@/lib/paths';

import { useCreateLesion } from '../api/create-lesion';
import { useLesions } from '../api/get-lesions';
import { uploadImage } from '../api/upload-image';
import { type UploadItem, UploadRow } from './upload-row';

/** A few uploads at once keep the server busy without queueing dozens of large bodies on a clinic uplink. */
const PARALLEL_UPLOADS = 3;
const MAX_FILE_BYTES = 20 * 1024 * 1024;

function rejectionMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const fileErrors = error.fields.files ?? [];
    return fileErrors.length > 0 ? fileErrors.join(' ') : error.message;
  }
  return 'Upload failed.';
}

export function UploadPage({ patientId, initialLesionId }: { patientId: number; initialLesionId: number | null }) {
  const lesions = useLesions(patientId);
  const createLesion = useCreateLesion(patientId);
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<'existing' | 'new'>(initialLesionId === null ? 'new' : 'existing');
  const [lesionId, setLesionId] = useState<string | null>(initialLesionId === null ? null : String(initialLesionId));
  const [label, setLabel] = useState('');
  const [site, setSite] = useState<AnatomicSite | null>(null);
  const [kind, setKind] = useState<ImageKind>('dermoscopic');
  const [items, setItems] = useState<UploadItem[]>([]);
  const [formError, setFormError] = useState<string | null>(null);

  const update = (key: string, patch: Partial<UploadItem>) =>
    setItems((current) => current.map((item) => (item.key === key ? { ...item, ...patch } : item)));

  async function targetLesion(): Promise<number | null> {
    if (mode === 'existing') {
      if (!lesionId) {
        setFormError('Choose the lesion these images belong to.');
        return null;
      }
      return Number(lesionId);
    }
    if (!site) {
      setFormError('Choose the anatomic site of the new lesion.');
      return null;
    }
    try {
      const lesion = await createLesion.mutateAsync({ anatomic_site: site, label: label.trim() });
      // Further drops in this visit belong to the lesion just created, not to yet another new one.
      setMode('existing');
      setLesionId(String(lesion.id));
      return lesion.id;
    } catch (error) {
      setFormError(error instanceof Error ? error.message : 'Could not create the lesion.');
      return null;
    }
  }

  async function onDrop(files: File[]) {
    setFormError(null);
    const target = await targetLesion();
    if (target === null) return;
    const batch = files.map((file, index) => ({
      key: `${Date.now()}-${index}-${file.name}`,
      fileName: file.name,
      state: 'uploading' as const,
      file,
    }));
    setItems((current) => [...batch.map(({ file: _file, ...item }) => item), ...current]);
    const queue = [...batch];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        try {
          const image = await uploadImage(target, next.file, kind);
          update(next.key, { state: 'uploaded', prediction: image.predictions[0] });
        } catch (error) {
          update(next.key, { state: 'rejected', error: rejectionMessage(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, batch.length) }, worker));
    // The case history cached before this visit lacks its images: read it again when it is next opened.
    void queryClient.invalidateQueries({ queryKey: ['patients', patientId] });
  }

  if (lesions.isPending) return <LoadingState label="Loading lesions…" />;
  if (lesions.isError) return <ErrorState error={lesions.error} onRetry={() => lesions.refetch()} />;

  const hasLesions = lesions.data.length > 0;
  return (
    <Stack>
      <Anchor component={Link} to={paths.patient.to(patientId)} size="sm">
        ← Back to case history
      </Anchor>
      <Title order={1} size="h2">
        Upload images
      </Title>
      <Paper withBorder p="md" radius="md">
        <Stack>
          {hasLesions ? (
            <SegmentedControl
              aria-label="Lesion"
              value={mode}
              onChange={(value) => setMode(value as 'existing' | 'new')}
              data={[
                { value: 'existing', label: 'Existing lesion' },
                { value: 'new', label: 'New lesion' },
              ]}
              maw={360}
            />
          ) : null}
          {mode === 'existing' && hasLesions ? (
            <Select
              label="Lesion"
              placeholder="Choose a lesion"
              data={lesions.data.map((lesion) => ({
                value: String(lesion.id),
                label: `${lesion.label || `Lesion ${lesion.id}`} — ${lesion.anatomic_site}`,
              }))}
              value={lesionId}
              onChange={setLesionId}
              maw={420}
            />
          ) : (
            <SimpleGrid cols={{ base: 1, sm: 2 }} maw={640}>
              <TextInput label="Lesion label" placeholder="e.g. left shoulder, 6 mm" value={label} onChange={(e) => setLabel(e.currentTarget.value)} />
              <Select
                label="Anatomic site"
                placeholder="Choose a site"
                withAsterisk
                data={ANATOMIC_SITES.map((s) => ({ value: s, label: s }))}
                value={site}
                onChange={(value) => setSite(value as AnatomicSite | null)}
              />
            </SimpleGrid>
          )}
          <Select
            label="Image type"
            data={[
              { value: 'dermoscopic', label: 'Dermoscopic' },
              { value: 'clinical', label: 'Clinical (close-up)' },
            ]}
            value={kind}
            onChange={(value) => value && setKind(value as ImageKind)}
            allowDeselect={false}
            maw={260}
          />
          {formError ? (
            <Alert color="red" role="alert">
              {formError}
            </Alert>
          ) : null}
          <Dropzone
            inputProps={{ 'aria-label': 'Image files to upload' }}
            onDrop={onDrop}
            onReject={(rejections) =>
              setItems((current) => [
                ...rejections.map((rejection, index) => ({
                  key: `rejected-${Date.now()}-${index}`,
                  fileName: rejection.file.name,
                  state: 'rejected' as const,
                  error: rejection.errors.map((e) => e.message).join(' '),
                })),
                ...current,
              ])
            }
            // Mantine's IMAGE_MIME_TYPE also offers GIF, SVG, WebP, AVIF and HEIC, which the server refuses.
            accept={[...UPLOAD_IMAGE_TYPES]}
            maxSize={MAX_FILE_BYTES}
            multiple
            loading={createLesion.isPending}
            aria-label="Drop images here or press Enter to choose files"
          >
            <Stack align="center" gap={4} py="xl" style={{ pointerEvents: 'none' }}>
              <Text fw={600}>Drop images here, or click to choose</Text>
              <Text size="sm" c="dimmed">
                JPEG or PNG, up to 20 MB each; several at once are fine.
              </Text>
            </Stack>
          </Dropzone>
        </Stack>
      </Paper>
      {items.length > 0 ? (
        <Stack>
          <IntendedUse />
          <Group justify="space-between">
            <Title order={2} size="h4">
              This visit’s uploads
            </Title>
            <Button component={Link} to={paths.patient.to(patientId)} variant="light" size="xs">
              Open case history
            </Button>
          </Group>
          <Stack component="ul" gap="xs" p={0} m={0} style={{ listStyle: 'none' }} aria-label="Uploads">
            {items.map((item) => (
              <UploadRow key={item.key} item={item} />
            ))}
          </Stack>
        </Stack>
      ) : null}
    </Stack>
  );
}
