import { Alert, Badge, Button, Card, Code, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';

import { AuthImage } from '@/components/auth-image';
import { IntendedUse } from '@/components/intended-use';
import { DemoBadge } from '@/components/model-tag';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import type { ModelVersion, OperatingPoint } from '@/lib/api-types';
import { formatDateTime, formatPercent } from '@/lib/format';

import { useActivateModel } from '../api/activate-model';
import { useModels } from '../api/get-models';
import { useOperatingPoints } from '../api/get-operating-points';

import { LocalReport } from './local-report';

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Metrics are free-form JSON in the schema; show the numeric leaves of a nested object as "path: value" rows. */
export function flattenMetrics(metrics: unknown, prefix = ''): [string, number][] {
  if (!isRecord(metrics)) return [];
  return Object.entries(metrics).flatMap(([key, value]): [string, number][] => {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'number') return [[name, value]];
    return flattenMetrics(value, name);
  });
}

const PLOT_TITLES: Record<string, string> = {
  roc: 'ROC curve',
  reliability: 'Reliability diagram',
  confusion_matrix: 'Confusion matrix',
  pr: 'Precision–recall curve',
};

function plotTitle(name: string): string {
  return PLOT_TITLES[name] ?? name.replace(/_/g, ' ');
}

function ModelCard({
  model,
  canActivate,
  operatingPoints,
}: {
  model: ModelVersion;
  canActivate: boolean;
  operatingPoints: OperatingPoint[];
}) {
  const activate = useActivateModel();
  const metrics = flattenMetrics(model.metrics);
  return (
    <Card withBorder radius="md" padding="md" component="section" aria-label={`${model.name} v${model.version}`}>
      <Stack>
        <Group justify="space-between" wrap="wrap">
          <Group gap="xs">
            <Title order={2} size="h4">
              {model.name} v{model.version}
            </Title>
            {model.is_active ? (
              <Badge color="teal" variant="filled">
                active
              </Badge>
            ) : null}
            <DemoBadge model={model} />
          </Group>
          {canActivate && !model.is_active ? (
            <Button size="xs" variant="light" loading={activate.isPending} onClick={() => activate.mutate(model.id)}>
              Make active
            </Button>
          ) : null}
        </Group>
        {activate.isError ? (
          <Alert color="red" role="alert">
            {(activate.error as Error).message}
          </Alert>
        ) : null}
        <SimpleGrid cols={{ base: 2, sm: 4 }}>
          <div>
            <Text size="xs" c="dimmed">
              Architecture
            </Text>
            <Text size="sm">{model.arch}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">
              Input size
            </Text>
            <Text size="sm">
              {model.img_size} × {model.img_size} px
            </Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">
              Referral threshold
            </Text>
            <Text size="sm">{formatPercent(model.threshold)}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed">
              {model.is_active ? 'Active since' : 'Registered'}
            </Text>
            <Text size="sm">{formatDateTime(model.is_active ? model.activated_at : model.created_at)}</Text>
          </div>
        </SimpleGrid>
        <Text size="xs" c="dimmed">
          Classes: {Array.isArray(model.class_names) ? model.class_names.join(', ') : '—'} · SHA-256 <Code>{model.sha256.slice(0, 12)}</Code>
        </Text>
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {metrics.length > 0 ? (
            <Table.ScrollContainer minWidth={320}>
              <Table withTableBorder verticalSpacing={4} aria-label={`Metrics of ${model.name} v${model.version}`}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Metric</Table.Th>
                    <Table.Th>Value</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {metrics.map(([name, value]) => (
                    <Table.Tr key={name}>
                      <Table.Td>{name}</Table.Td>
                      <Table.Td ff="monospace">{Number.isInteger(value) ? value : value.toFixed(3)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          ) : (
            <Text size="sm" c="dimmed">
              No evaluation metrics recorded.
            </Text>
          )}
          <Stack>
            {operatingPoints.length > 0 ? (
              operatingPoints.map((point) => (
                <LocalReport key={point.id} point={point} label={`${model.name} v${model.version}`} />
              ))
            ) : (
              <Text size="sm" c="dimmed">
                No clinic operating point: predictions use the global threshold.
              </Text>
            )}
          </Stack>
        </SimpleGrid>
        {Object.keys(model.plots).length > 0 ? (
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
            {Object.entries(model.plots).map(([name, url]) => (
              <Stack key={name} gap={4}>
                <Text size="sm" fw={500}>
                  {plotTitle(name)}
                </Text>
                <AuthImage src={url} alt={`${plotTitle(name)} of ${model.name} v${model.version}`} fit="contain" radius="sm" />
              </Stack>
            ))}
          </SimpleGrid>
        ) : null}
      </Stack>
    </Card>
  );
}

export function ModelsPage({ canActivate }: { canActivate: boolean }) {
  const models = useModels();
  const operatingPoints = useOperatingPoints();
  let body;
  if (models.isPending) body = <LoadingState label="Loading models…" />;
  else if (models.isError) body = <ErrorState error={models.error} onRetry={() => models.refetch()} />;
  else if (models.data.length === 0)
    body = <EmptyState title="No model versions registered">Train one with `manage.py train`.</EmptyState>;
  else
    body = (
      <Stack>
        {[...models.data]
          .sort((a, b) => Number(b.is_active) - Number(a.is_active) || b.created_at.localeCompare(a.created_at))
          .map((model) => (
            <ModelCard
              key={model.id}
              model={model}
              canActivate={canActivate}
              operatingPoints={(operatingPoints.data ?? []).filter((point) => point.model_version.id === model.id)}
            />
          ))}
      </Stack>
    );
  return (
    <Stack>
      <Title order={1} size="h2">
        Models
      </Title>
      <IntendedUse />
      {body}
    </Stack>
  );
}
