import { Anchor, Group, Pagination, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link } from 'react-router';

import { DemoBadge } from '@/components/model-tag';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { formatDateTime } from '@/lib/format';
import { paths } from '@/lib/paths';

import { BATCHES_PAGE_SIZE, useBatches } from '../api/get-batches';
import { BatchStatusBadge } from './batch-status-badge';
import { NewBatchForm } from './new-batch-form';

export function BatchesPage() {
  const [page, setPage] = useState(1);
  const batches = useBatches(page);

  let list;
  if (batches.isPending) list = <LoadingState label="Loading batches…" />;
  else if (batches.isError) list = <ErrorState error={batches.error} onRetry={() => batches.refetch()} />;
  else if (batches.data.results.length === 0) list = <EmptyState title="No bulk analyses yet" />;
  else
    list = (
      <Table.ScrollContainer minWidth={560}>
        <Table striped verticalSpacing="sm" aria-label="Bulk analyses">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Started</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Analysed</Table.Th>
              <Table.Th>Model</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {batches.data.results.map((batch) => (
              <Table.Tr key={batch.id}>
                <Table.Td>
                  <Anchor component={Link} to={paths.batch.to(batch.id)}>
                    {batch.name || `Batch ${batch.id}`}
                  </Anchor>
                </Table.Td>
                <Table.Td>{formatDateTime(batch.created_at)}</Table.Td>
                <Table.Td>
                  <BatchStatusBadge status={batch.status} />
                </Table.Td>
                <Table.Td>
                  {batch.done} / {batch.total}
                  {batch.failed > 0 ? (
                    <Text span c="red" size="sm">
                      {' '}
                      ({batch.failed} failed)
                    </Text>
                  ) : null}
                </Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    <Text size="sm">
                      {batch.model_version.name} v{batch.model_version.version}
                    </Text>
                    <DemoBadge model={batch.model_version} />
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );

  const pageCount = batches.data ? Math.ceil(batches.data.count / BATCHES_PAGE_SIZE) : 1;
  return (
    <Stack>
      <Title order={1} size="h2">
        Bulk analysis
      </Title>
      <NewBatchForm />
      <Title order={2} size="h4">
        Previous analyses
      </Title>
      {list}
      {pageCount > 1 ? <Pagination total={pageCount} value={page} onChange={setPage} /> : null}
    </Stack>
  );
}
