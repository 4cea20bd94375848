import { Alert, Anchor, Button, Group, Pagination, Paper, Progress, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link } from 'react-router';

import { AuthImage } from '@/components/auth-image';
import { IntendedUse } from '@/components/intended-use';
import { ModelTag } from '@/components/model-tag';
import { QualityBadge } from '@/components/quality-notice';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { RiskBadge } from '@/components/risk-badge';
import type { Batch } from '@/lib/api-types';
import { formatDuration, formatPercent } from '@/lib/format';
import { paths } from '@/lib/paths';
import { isPredictionStatus, STATUS_LABELS } from '@/lib/vocabulary';

import { downloadResultsCsv, useCancelBatch, useRetryBatch } from '../api/batch-actions';
import { useBatch } from '../api/get-batch';
import { RESULTS_PAGE_SIZE, useBatchResults } from '../api/get-batch-results';
import { BatchStatusBadge } from './batch-status-badge';

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={600}>{value}</Text>
    </div>
  );
}

function BatchProgress({ batch }: { batch: Batch }) {
  const total = Math.max(batch.total, 1);
  const donePct = (batch.done / total) * 100;
  const failedPct = (batch.failed / total) * 100;
  const finished = batch.done + batch.failed;
  return (
    <Stack gap="xs">
      <Progress.Root size="xl">
        <Progress.Section value={donePct} color="teal" animated={batch.status === 'running'} aria-label="Analysed">
          <Progress.Label>{batch.done}</Progress.Label>
        </Progress.Section>
        <Progress.Section value={failedPct} color="red" aria-label="Failed">
          <Progress.Label>{batch.failed || ''}</Progress.Label>
        </Progress.Section>
      </Progress.Root>
      <SimpleGrid cols={{ base: 2, sm: 5 }}>
        <Stat label="Finished" value={`${finished} / ${batch.total}`} />
        <Stat label="Failed" value={String(batch.failed)} />
        <Stat label="Waiting" value={String(batch.queued + batch.running)} />
        <Stat label="Rate" value={batch.rate_per_min === null ? '—' : `${batch.rate_per_min.toFixed(1)} / min`} />
        <Stat label="Time left" value={batch.status === 'running' ? formatDuration(batch.eta_seconds) : '—'} />
      </SimpleGrid>
    </Stack>
  );
}

export function BatchPage({ batchId }: { batchId: number }) {
  const batch = useBatch(batchId);
  const [page, setPage] = useState(1);
  const results = useBatchResults(batchId, page, batch.data?.status);
  const cancel = useCancelBatch(batchId);
  const retry = useRetryBatch(batchId);
  const [downloadError, setDownloadError] = useState<string | null>(null);

  if (batch.isPending) return <LoadingState label="Loading batch…" />;
  if (batch.isError) return <ErrorState error={batch.error} onRetry={() => batch.refetch()} />;
  const data = batch.data;
  const actionError = cancel.error ?? retry.error;

  const pageCount = results.data ? Math.ceil(results.data.count / RESULTS_PAGE_SIZE) : 1;
  return (
    <Stack>
      <Anchor component={Link} to={paths.batches.to()} size="sm">
        ← All bulk analyses
      </Anchor>
      <Group justify="space-between" wrap="wrap">
        <Group gap="sm">
          <Title order={1} size="h2">
            {data.name || `Batch ${data.id}`}
          </Title>
          <BatchStatusBadge status={data.status} />
        </Group>
        <Group gap="xs">
          {data.status === 'running' ? (
            <Button color="red" variant="light" onClick={() => cancel.mutate()} loading={cancel.isPending}>
              Cancel
            </Button>
          ) : null}
          {data.failed > 0 && data.status !== 'running' ? (
            <Button variant="light" onClick={() => retry.mutate()} loading={retry.isPending}>
              Retry failed ({data.failed})
            </Button>
          ) : null}
          <Button
            variant="default"
            onClick={() => {
              setDownloadError(null);
              downloadResultsCsv(batchId).catch((error: unknown) =>
                setDownloadError(error instanceof Error ? error.message : 'Download failed.'),
              );
            }}
          >
            Download CSV
          </Button>
        </Group>
      </Group>
      <ModelTag model={data.model_version} />
      {actionError || downloadError ? (
        <Alert color="red" role="alert">
          {downloadError ?? (actionError as Error).message}
        </Alert>
      ) : null}
      <Paper withBorder p="md" radius="md">
        <BatchProgress batch={data} />
      </Paper>
      <IntendedUse />
      <Title order={2} size="h4">
        Results, highest risk first
      </Title>
      {results.isPending ? (
        <LoadingState label="Loading results…" />
      ) : results.isError ? (
        <ErrorState error={results.error} onRetry={() => results.refetch()} />
      ) : results.data.results.length === 0 ? (
        <EmptyState title="No results yet" />
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table verticalSpacing="xs" striped aria-label="Batch results">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={72}>Image</Table.Th>
                <Table.Th>File</Table.Th>
                <Table.Th>Patient</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Melanoma probability</Table.Th>
                <Table.Th>Risk</Table.Th>
                <Table.Th>Image quality</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {results.data.results.map((row, index) => (
                <Table.Tr key={row.image_id ?? `${row.file_name}-${index}`}>
                  <Table.Td>
                    {row.thumbnail_url ? (
                      <AuthImage src={row.thumbnail_url} alt={`Thumbnail of ${row.file_name}`} w={56} h={56} fit="cover" radius="sm" />
                    ) : null}
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" ff="monospace">
                      {row.file_name}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    {row.patient_id !== null ? (
                      <Anchor component={Link} to={paths.patient.to(row.patient_id)} size="sm">
                        Open patient
                      </Anchor>
                    ) : (
                      <Text size="sm" c="dimmed">
                        Unassigned
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" c={row.status === 'failed' ? 'red' : undefined}>
                      {isPredictionStatus(row.status) ? STATUS_LABELS[row.status] : row.status}
                      {row.error ? `: ${row.error}` : ''}
                    </Text>
                  </Table.Td>
                  <Table.Td>{formatPercent(row.melanoma_probability)}</Table.Td>
                  <Table.Td>{row.status === 'done' ? <RiskBadge category={row.risk_category} /> : null}</Table.Td>
                  <Table.Td>
                    <QualityBadge label={row.quality_label} dismissed={row.quality_dismissed} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {pageCount > 1 ? <Pagination total={pageCount} value={page} onChange={setPage} /> : null}
    </Stack>
  );
}
