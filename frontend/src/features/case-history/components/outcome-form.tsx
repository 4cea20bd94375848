import { Alert, Button, Group, SegmentedControl, Select, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useForm } from '@mantine/form';

import { ApiError } from '@/lib/api-client';
import type { Diagnosis, OutcomeInput } from '@/lib/api-types';
import { DIAGNOSES } from '@/lib/vocabulary';

import { useCreateOutcome } from '../api/create-outcome';

const MALIGNANT: ReadonlySet<Diagnosis> = new Set([
  'melanoma',
  'basal cell carcinoma',
  'squamous cell carcinoma',
]);

const today = () => new Date().toISOString().slice(0, 10);

export function OutcomeForm({ patientId, lesionId, onDone }: { patientId: number; lesionId: number; onDone: () => void }) {
  const create = useCreateOutcome({ patientId, lesionId });
  const form = useForm<OutcomeInput>({
    initialValues: { diagnosis: 'nevus', benign_malignant: 'benign', date: today(), notes: '' },
    validate: {
      date: (value) => (/^\d{4}-\d{2}-\d{2}$/.test(value) && value <= today() ? null : 'Enter a date that is not in the future'),
    },
  });

  const fieldErrors = create.error instanceof ApiError ? create.error.fields : {};
  return (
    <form
      onSubmit={form.onSubmit((values) => create.mutate(values, { onSuccess: onDone }))}
      noValidate
      aria-label="Record biopsy outcome"
    >
      <Stack gap="sm">
        {create.isError && Object.keys(fieldErrors).length === 0 ? (
          <Alert color="red" role="alert">
            {(create.error as Error).message}
          </Alert>
        ) : null}
        <Select
          label="Histopathological diagnosis"
          data={DIAGNOSES.map((d) => ({ value: d, label: d }))}
          searchable
          allowDeselect={false}
          {...form.getInputProps('diagnosis')}
          onChange={(value) => {
            if (!value) return;
            form.setFieldValue('diagnosis', value as Diagnosis);
            form.setFieldValue('benign_malignant', MALIGNANT.has(value as Diagnosis) ? 'malignant' : 'benign');
          }}
          error={fieldErrors.diagnosis?.join(' ') ?? form.errors.diagnosis}
        />
        <Stack gap={4}>
          <Text size="sm" fw={500} id={`bm-${lesionId}`}>
            Benign or malignant
          </Text>
          <SegmentedControl
            aria-labelledby={`bm-${lesionId}`}
            data={[
              { value: 'benign', label: 'Benign' },
              { value: 'malignant', label: 'Malignant' },
            ]}
            value={form.values.benign_malignant}
            onChange={(value) => form.setFieldValue('benign_malignant', value as OutcomeInput['benign_malignant'])}
          />
        </Stack>
        <TextInput
          label="Biopsy date"
          type="date"
          max={today()}
          {...form.getInputProps('date')}
          error={fieldErrors.date?.join(' ') ?? form.errors.date}
        />
        <Textarea label="Notes" autosize minRows={2} {...form.getInputProps('notes')} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Save outcome
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
