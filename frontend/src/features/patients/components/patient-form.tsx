import { Alert, Button, Group, NumberInput, Select, Stack, Textarea, TextInput } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useEffect } from 'react';

import { ApiError } from '@/lib/api-client';
import type { PatientInput, Sex } from '@/lib/api-types';

const SEX_OPTIONS: { value: Sex; label: string }[] = [
  { value: 'female', label: 'Female' },
  { value: 'male', label: 'Male' },
  { value: 'other', label: 'Other' },
  { value: 'unknown', label: 'Unknown' },
];

/** The form always holds every field, including those the server would default. */
export type PatientFormValues = Required<PatientInput>;

const EMPTY: PatientFormValues = { mrn: '', name: '', sex: 'unknown', birth_year: null, notes: '' };

type PatientFormProps = {
  initialValues?: PatientFormValues;
  submitLabel: string;
  pending: boolean;
  error: unknown;
  onSubmit: (values: PatientFormValues) => void;
  onCancel?: () => void;
};

export function PatientForm({ initialValues, submitLabel, pending, error, onSubmit, onCancel }: PatientFormProps) {
  const thisYear = new Date().getFullYear();
  const form = useForm<PatientFormValues>({
    initialValues: initialValues ?? EMPTY,
    validate: {
      mrn: (value) => (value.trim() ? null : 'Enter the medical record number'),
      name: (value) => (value.trim() ? null : 'Enter the patient’s name'),
      birth_year: (value) =>
        value === null || (value >= 1900 && value <= thisYear) ? null : `Enter a year between 1900 and ${thisYear}`,
    },
  });
  const { setErrors } = form;

  // The server has the last word (e.g. a duplicate MRN); its field errors land next to the inputs.
  useEffect(() => {
    if (error instanceof ApiError && Object.keys(error.fields).length > 0) {
      setErrors(Object.fromEntries(Object.entries(error.fields).map(([field, messages]) => [field, messages.join(' ')])));
    }
  }, [error, setErrors]);

  const generalError = error instanceof ApiError && Object.keys(error.fields).length === 0 ? error.message : null;

  return (
    <form onSubmit={form.onSubmit((values) => onSubmit({ ...values, mrn: values.mrn.trim(), name: values.name.trim() }))} noValidate>
      <Stack>
        {generalError ? (
          <Alert color="red" role="alert">
            {generalError}
          </Alert>
        ) : null}
        <TextInput label="MRN" withAsterisk data-autofocus {...form.getInputProps('mrn')} />
        <TextInput label="Name" withAsterisk {...form.getInputProps('name')} />
        <Group grow align="flex-start">
          <Select label="Sex" data={SEX_OPTIONS} allowDeselect={false} {...form.getInputProps('sex')} />
          <NumberInput
            label="Birth year"
            min={1900}
            max={thisYear}
            allowDecimal={false}
            {...form.getInputProps('birth_year')}
            value={form.values.birth_year ?? ''}
            onChange={(value) => form.setFieldValue('birth_year', typeof value === 'number' ? value : null)}
          />
        </Group>
        <Textarea label="Notes" autosize minRows={2} {...form.getInputProps('notes')} />
        <Group justify="flex-end">
          {onCancel ? (
            <Button variant="default" onClick={onCancel}>
              Cancel
            </Button>
          ) : null}
          <Button type="submit" loading={pending}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
