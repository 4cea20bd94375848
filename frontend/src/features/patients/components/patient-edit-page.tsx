import { Anchor, Paper, Stack, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { Link, useNavigate } from 'react-router';

import { ErrorState, LoadingState } from '@/components/query-state';
import { paths } from '@/lib/paths';

import { usePatient } from '../api/get-patient';
import { useUpdatePatient } from '../api/update-patient';
import { PatientForm } from './patient-form';

export function PatientEditPage({ patientId }: { patientId: number }) {
  const patient = usePatient(patientId);
  const update = useUpdatePatient(patientId);
  const navigate = useNavigate();

  if (patient.isPending) return <LoadingState label="Loading patient…" />;
  if (patient.isError) return <ErrorState error={patient.error} onRetry={() => patient.refetch()} />;

  const { mrn, name, sex, birth_year, notes } = patient.data;
  return (
    <Stack maw={640}>
      <Anchor component={Link} to={paths.patient.to(patientId)} size="sm">
        ← Back to case history
      </Anchor>
      <Title order={1} size="h2">
        Edit patient
      </Title>
      <Paper withBorder p="md">
        <PatientForm
          initialValues={{ mrn, name, sex, birth_year, notes }}
          submitLabel="Save changes"
          pending={update.isPending}
          error={update.error}
          onCancel={() => navigate(paths.patient.to(patientId))}
          onSubmit={(values) =>
            update.mutate(values, {
              onSuccess: () => {
                notifications.show({ color: 'teal', message: 'Patient saved' });
                navigate(paths.patient.to(patientId));
              },
            })
          }
        />
      </Paper>
    </Stack>
  );
}
