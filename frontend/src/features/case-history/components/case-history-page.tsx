import { Anchor, Badge, Button, Group, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';

import { IntendedUse } from '@/components/intended-use';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { PatientReportButton } from '@/components/report-downloads';
import type { AnatomicSite, HistoryLesion } from '@/lib/api-types';
import { ANATOMIC_SITES } from '@/lib/vocabulary';
import { paths } from '@/lib/paths';

import { useHistory } from '../api/get-history';
import { LesionCard } from './lesion-card';

function groupBySite(lesions: HistoryLesion[]): [AnatomicSite, HistoryLesion[]][] {
  return ANATOMIC_SITES.map((site) => [site, lesions.filter((lesion) => lesion.anatomic_site === site)] as [
    AnatomicSite,
    HistoryLesion[],
  ]).filter(([, group]) => group.length > 0);
}

const siteAnchor = (site: string) => `site-${site.replace(/[^a-z]+/g, '-')}`;

export function CaseHistoryPage({ patientId }: { patientId: number }) {
  const history = useHistory(patientId);
  if (history.isPending) return <LoadingState label="Loading case history…" />;
  if (history.isError) return <ErrorState error={history.error} onRetry={() => history.refetch()} />;

  const { patient, lesions } = history.data;
  const groups = groupBySite(lesions);
  return (
    <Stack>
      <Anchor component={Link} to={paths.patients.to()} size="sm">
        ← All patients
      </Anchor>
      <Group justify="space-between" align="flex-start" wrap="wrap">
        <div>
          <Title order={1} size="h2">
            {patient.name}
          </Title>
          <Text c="dimmed" size="sm">
            MRN {patient.mrn} · {patient.age !== null ? `${patient.age} years` : 'age unknown'} · {patient.sex}
          </Text>
          {patient.notes ? (
            <Text size="sm" mt={4}>
              {patient.notes}
            </Text>
          ) : null}
        </div>
        <Group gap="xs">
          <PatientReportButton patientId={patient.id} />
          <Button component={Link} to={paths.patientEdit.to(patient.id)} variant="default">
            Edit patient
          </Button>
          <Button component={Link} to={paths.upload.to(patient.id)}>
            Upload images
          </Button>
        </Group>
      </Group>
      <IntendedUse />
      {lesions.length === 0 ? (
        <EmptyState title="No lesions recorded">Upload images to add this patient’s first lesion.</EmptyState>
      ) : (
        <>
          <Group gap="xs" aria-label="Lesions by anatomic site" role="navigation">
            {groups.map(([site, group]) => (
              <Badge key={site} component="a" href={`#${siteAnchor(site)}`} variant="light" size="lg" style={{ cursor: 'pointer' }}>
                {site}: {group.length}
              </Badge>
            ))}
          </Group>
          {groups.map(([site, group]) => (
            <Stack key={site} gap="sm" id={siteAnchor(site)}>
              <Title order={2} size="h4" tt="capitalize">
                {site}
              </Title>
              {group.map((lesion) => (
                <LesionCard key={lesion.id} patientId={patient.id} lesion={lesion} />
              ))}
            </Stack>
          ))}
        </>
      )}
    </Stack>
  );
}
