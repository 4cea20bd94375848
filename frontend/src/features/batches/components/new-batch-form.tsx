import { Alert, Button, Checkbox, FileInput, Paper, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useState } from 'react';
import { useNavigate } from 'react-router';

import { ApiError } from '@/lib/api-client';
import { paths } from '@/lib/paths';
import { UPLOAD_IMAGE_TYPES } from '@/lib/vocabulary';

import { useCreateBatch } from '../api/create-batch';

export function NewBatchForm() {
  const [name, setName] = useState('');
  const [archive, setArchive] = useState<File | null>(null);
  const [files, setFiles] = useState<File[]>([]);
  const [mapping, setMapping] = useState<File | null>(null);
  const [createMissing, setCreateMissing] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const create = useCreateBatch();
  const navigate = useNavigate();

  const fieldErrors = create.error instanceof ApiError ? create.error.fields : {};

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    if (!archive && files.length === 0) {
      setProblem('Choose a zip archive or some images.');
      return;
    }
    setProblem(null);
    create.mutate(
      { name, archive, files, mapping, createMissing },
      { onSuccess: (batch) => navigate(paths.batch.to(batch.id)) },
    );
  };

  const generalError =
    problem ?? (create.error && Object.keys(fieldErrors).length === 0 ? (create.error as Error).message : null);
  return (
    <Paper withBorder p="md" radius="md" component="form" onSubmit={submit} noValidate aria-label="New bulk analysis">
      <Stack>
        <Title order={2} size="h4">
          New bulk analysis
        </Title>
        <Text size="sm" c="dimmed">
          Upload a zip of images or pick many images. An optional CSV (file_name, mrn, patient_name, lesion_label,
          anatomic_site) files each image under a patient.
        </Text>
        {generalError ? (
          <Alert color="red" role="alert">
            {generalError}
          </Alert>
        ) : null}
        <TextInput label="Name" placeholder="e.g. Tuesday screening clinic" value={name} onChange={(e) => setName(e.currentTarget.value)} maw={420} />
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <FileInput
            label="Zip archive"
            name="archive"
            placeholder="Choose a .zip"
            accept=".zip,application/zip"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear the zip archive' }}
            value={archive}
            onChange={setArchive}
            error={fieldErrors.archive?.join(' ')}
          />
          <FileInput
            label="Or images"
            name="files"
            placeholder="Choose images"
            accept={UPLOAD_IMAGE_TYPES.join(',')}
            multiple
            clearable
            clearButtonProps={{ 'aria-label': 'Clear the images' }}
            value={files}
            onChange={setFiles}
            error={fieldErrors.files?.join(' ')}
          />
          <FileInput
            label="Patient mapping (CSV, optional)"
            name="mapping"
            placeholder="Choose a .csv"
            accept=".csv,text/csv"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear the patient mapping' }}
            value={mapping}
            onChange={setMapping}
            error={fieldErrors.mapping?.join(' ')}
          />
        </SimpleGrid>
        <Checkbox
          label="Create patients and lesions that the mapping names but do not exist yet"
          checked={createMissing}
          disabled={!mapping}
          onChange={(e) => setCreateMissing(e.currentTarget.checked)}
        />
        <Button type="submit" loading={create.isPending} w="fit-content">
          Start analysis
        </Button>
      </Stack>
    </Paper>
  );
}
