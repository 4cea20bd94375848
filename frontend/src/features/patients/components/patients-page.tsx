import { Anchor, Button, Group, Modal, Pagination, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue, useDisclosure } from '@mantine/hooks';
import { Link, useNavigate, useSearchParams } from 'react-router';

import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { RiskBadge } from '@/components/risk-badge';
import { formatDate } from '@/lib/format';
import { paths } from '@/lib/paths';

import { useCreatePatient } from '../api/create-patient';
import { PATIENTS_PAGE_SIZE, usePatients } from '../api/get-patients';
import { PatientForm } from './patient-form';

export function PatientsPage() {
  const [searchParams, setSearchParams] = useSearchParams();
  const search = searchParams.get('search') ?? '';
  const page = Math.max(1, Number(searchParams.get('page')) || 1);
  const [debouncedSearch] = useDebouncedValue(search, 250);
  const patients = usePatients({ search: debouncedSearch, page });
  const [creating, { open, close }] = useDisclosure(false);
  const createPatient = useCreatePatient();
  const navigate = useNavigate();

  const setQuery = (next: { search?: string; page?: number }) => {
    const params = new URLSearchParams();
    const nextSearch = next.search ?? search;
    const nextPage = next.page ?? 1;
    if (nextSearch) params.set('search', nextSearch);
    if (nextPage > 1) params.set('page', String(nextPage));
    setSearchParams(params, { replace: true });
  };

  const pageCount = patients.data ? Math.max(1, Math.ceil(patients.data.count / PATIENTS_PAGE_SIZE)) : 1;

  let body;
  if (patients.isPending) {
    body = <LoadingState label="Loading patients…" />;
  } else if (patients.isError) {
    body = <ErrorState error={patients.error} onRetry={() => patients.refetch()} />;
  } else if (patients.data.results.length === 0) {
    body = debouncedSearch ? (
      <EmptyState title="No matching patients">No patient’s MRN or name matches “{debouncedSearch}”.</EmptyState>
    ) : (
      <EmptyState title="No patients yet">Add a patient to start recording lesions.</EmptyState>
    );
  } else {
    body = (
      <Table.ScrollContainer minWidth={640}>
        <Table striped highlightOnHover verticalSpacing="sm" aria-label="Patients">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>MRN</Table.Th>
              <Table.Th>Name</Table.Th>
              <Table.Th>Age</Table.Th>
              <Table.Th>Last visit</Table.Th>
              <Table.Th>Lesions</Table.Th>
              <Table.Th>Highest current risk</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {patients.data.results.map((patient) => (
              <Table.Tr key={patient.id}>
                <Table.Td>
                  <Text ff="monospace" size="sm">
                    {patient.mrn}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Anchor component={Link} to={paths.patient.to(patient.id)} fw={500}>
                    {patient.name}
                  </Anchor>
                </Table.Td>
                <Table.Td>{patient.age ?? '—'}</Table.Td>
                <Table.Td>{formatDate(patient.last_visit)}</Table.Td>
                <Table.Td>{patient.lesion_count}</Table.Td>
                <Table.Td>
                  {patient.highest_risk ? (
                    <RiskBadge category={patient.highest_risk.risk_category} probability={patient.highest_risk.probability} />
                  ) : (
                    <Text size="sm" c="dimmed">
                      Not analysed
                    </Text>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );
  }

  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <Title order={1} size="h2">
          Patients
        </Title>
        <Button onClick={open}>New patient</Button>
      </Group>
      <TextInput
        type="search"
        label="Search patients"
        placeholder="MRN or name"
        value={search}
        onChange={(event) => setQuery({ search: event.currentTarget.value })}
        maw={420}
      />
      {body}
      {patients.data && pageCount > 1 ? (
        <Group justify="space-between">
          <Text size="sm" c="dimmed">
            {patients.data.count} patients
          </Text>
          <Pagination total={pageCount} value={page} onChange={(next) => setQuery({ page: next })} aria-label="Pages" />
        </Group>
      ) : null}
      <Modal opened={creating} onClose={close} title="New patient" size="lg" closeButtonProps={{ 'aria-label': 'Close' }}>
        <PatientForm
          submitLabel="Create patient"
          pending={createPatient.isPending}
          error={createPatient.error}
          onCancel={close}
          onSubmit={(values) =>
            createPatient.mutate(values, {
              onSuccess: (patient) => {
                close();
                navigate(paths.patient.to(patient.id));
              },
            })
          }
        />
      </Modal>
    </Stack>
  );
}
