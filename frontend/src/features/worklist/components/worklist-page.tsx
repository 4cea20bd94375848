import { Anchor, Badge, Group, Pagination, SegmentedControl, Stack, Table, Text, Title, Tooltip } from '@mantine/core';
import { useState } from 'react';
import { Link } from 'react-router';

import { AuthImage } from '@/components/auth-image';
import { DemoBadge } from '@/components/model-tag';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { RiskBadge } from '@/components/risk-badge';
import { ThresholdCrossingBadge } from '@/components/threshold-crossing-badge';
import type { WorklistFilter, WorklistSort } from '@/lib/api-types';
import { formatDateTime } from '@/lib/format';
import { paths } from '@/lib/paths';
import { WORKLIST_FILTERS, WORKLIST_SORTS } from '@/lib/vocabulary';

import { useWorklist, useWorklistCounts, WORKLIST_PAGE_SIZE } from '../api/get-worklist';

const FILTERS = Object.keys(WORKLIST_FILTERS) as WorklistFilter[];
const SORTS = Object.keys(WORKLIST_SORTS) as WorklistSort[];
const OUTLIER_HINT =
  'How unlike the same patient’s other lesions this one looks (its distance from their average in the model’s image features, over the patient’s median): a within-patient dissimilarity, not a diagnosis. Shown for patients with at least 3 analysed lesions.';

/**
 * The clinic's analysed lesions that wait for a clinician, riskiest first (refer, then probability, then the
 * longest wait: the order the API gives), or the patients' odd ones out first. Opening a row starts a pass
 * through the queue in that order ("Next" on the lesion).
 */
export function WorklistPage({
  filter,
  sort,
  onQueueChange,
}: {
  filter: WorklistFilter;
  sort: WorklistSort;
  onQueueChange: (filter: WorklistFilter, sort: WorklistSort) => void;
}) {
  const [page, setPage] = useState(1);
  const worklist = useWorklist(filter, sort, page);
  const counts = useWorklistCounts();

  const changeFilter = (value: string) => {
    setPage(1);
    onQueueChange(value as WorklistFilter, sort);
  };
  const changeSort = (value: string) => {
    setPage(1);
    onQueueChange(filter, value as WorklistSort);
  };

  let list;
  if (worklist.isPending) list = <LoadingState label="Loading the worklist…" />;
  else if (worklist.isError) list = <ErrorState error={worklist.error} onRetry={() => worklist.refetch()} />;
  else if (worklist.data.results.length === 0)
    list = <EmptyState title="Nothing waiting">{WORKLIST_FILTERS[filter].empty}</EmptyState>;
  else
    list = (
      <Table.ScrollContainer minWidth={720}>
        <Table striped verticalSpacing="sm" aria-label={`Worklist: ${WORKLIST_FILTERS[filter].label}`}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Image</Table.Th>
              <Table.Th>Patient</Table.Th>
              <Table.Th>Lesion</Table.Th>
              <Table.Th>Result</Table.Th>
              <Table.Th>
                <Tooltip label={OUTLIER_HINT} multiline w={320}>
                  <span>Odd one out</span>
                </Tooltip>
              </Table.Th>
              <Table.Th>Waiting since</Table.Th>
              <Table.Th>Model</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {worklist.data.results.map((item) => {
              const lesion = item.lesion_label || `Lesion ${item.lesion_id}`;
              return (
                <Table.Tr key={item.lesion_id}>
                  <Table.Td w={72}>
                    <AuthImage src={item.thumbnail_url} alt={`Latest image of ${lesion}`} w={56} h={56} fit="cover" radius="sm" />
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" fw={500}>
                      {item.patient.name}
                    </Text>
                    <Text size="xs" c="dimmed">
                      MRN {item.patient.mrn}
                      {item.patient.age !== null ? ` · ${item.patient.age} y` : ''}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Anchor component={Link} to={paths.worklistItem.to(item.lesion_id, filter, sort)} fw={500}>
                      {lesion}
                    </Anchor>
                    <Text size="xs" c="dimmed">
                      {item.anatomic_site}
                    </Text>
                  </Table.Td>
                  {/* Wide enough for "Routine · 49.9%" and "Refer · 100.0%": narrower, the table cuts the badge to
                      "Routine · 20.…" (07g-follow-up-due once showed that). */}
                  <Table.Td miw={180}>
                    <Stack gap={4} align="flex-start">
                      <span style={{ whiteSpace: 'nowrap' }}>
                        <RiskBadge category={item.prediction.risk_category} probability={item.prediction.melanoma_probability} />
                      </span>
                      <ThresholdCrossingBadge crossed={item.crossed_threshold_upward} />
                    </Stack>
                  </Table.Td>
                  <Table.Td>
                    {item.outlier_score === null ? (
                      <Text size="sm" c="dimmed" aria-label="Not compared">
                        —
                      </Text>
                    ) : (
                      <Text size="sm" aria-label={`Odd-one-out score ${item.outlier_score.toFixed(2)}`}>
                        {item.outlier_score.toFixed(2)}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{formatDateTime(item.waiting_since)}</Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Text size="sm">
                        {item.prediction.model_version.name} v{item.prediction.model_version.version}
                      </Text>
                      <DemoBadge model={item.prediction.model_version} />
                    </Group>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );

  const pageCount = worklist.data ? Math.ceil(worklist.data.count / WORKLIST_PAGE_SIZE) : 1;
  return (
    <Stack>
      <Title order={1} size="h2">
        Worklist
      </Title>
      <SegmentedControl
        value={filter}
        onChange={changeFilter}
        aria-label="Which queue"
        data={FILTERS.map((value) => ({
          value,
          label: (
            <Group gap={6} wrap="nowrap" justify="center">
              <span>{WORKLIST_FILTERS[value].label}</span>
              {counts.data ? (
                <Badge size="sm" variant="default" aria-label={`${counts.data[value]} waiting`}>
                  {counts.data[value]}
                </Badge>
              ) : null}
            </Group>
          ),
        }))}
      />
      <Group gap="sm">
        <Text size="sm" id="worklist-order">
          Order
        </Text>
        <SegmentedControl
          size="xs"
          value={sort}
          onChange={changeSort}
          aria-labelledby="worklist-order"
          data={SORTS.map((value) => ({ value, label: WORKLIST_SORTS[value].label }))}
        />
        <Text size="xs" c="dimmed">
          {WORKLIST_SORTS[sort].description}
        </Text>
      </Group>
      {list}
      {pageCount > 1 ? <Pagination total={pageCount} value={page} onChange={setPage} /> : null}
    </Stack>
  );
}
