import { Badge, Group, Loader, Paper, Stack, Text } from '@mantine/core';

import { PredictionSummary, usePrediction } from '@/components/prediction-summary';
import type { Prediction } from '@/lib/api-types';
import { STATUS_LABELS } from '@/lib/vocabulary';

export type UploadItem = {
  key: string;
  fileName: string;
  state: 'uploading' | 'uploaded' | 'rejected';
  prediction?: Prediction;
  error?: string;
};

const STATUS_COLORS: Record<string, string> = {
  Uploading: 'gray',
  Queued: 'gray',
  'Analysing…': 'blue',
  Done: 'teal',
  Failed: 'red',
  Cancelled: 'gray',
};

function StatusBadge({ label }: { label: string }) {
  return (
    <Badge color={STATUS_COLORS[label] ?? 'gray'} variant="outline" leftSection={label === 'Uploading' || label === 'Analysing…' ? <Loader size={10} /> : null}>
      {label}
    </Badge>
  );
}

function AnalysedRow({ item, initial }: { item: UploadItem; initial: Prediction }) {
  const { data: prediction } = usePrediction(initial);
  return (
    <Stack gap={6}>
      <Group justify="space-between" wrap="nowrap">
        <Text size="sm" fw={500} truncate>
          {item.fileName}
        </Text>
        <StatusBadge label={STATUS_LABELS[prediction.status]} />
      </Group>
      {prediction.status === 'done' || prediction.status === 'failed' ? <PredictionSummary prediction={prediction} /> : null}
    </Stack>
  );
}

export function UploadRow({ item }: { item: UploadItem }) {
  let content;
  if (item.state === 'uploaded' && item.prediction) {
    content = <AnalysedRow item={item} initial={item.prediction} />;
  } else {
    const label = item.state === 'uploading' ? 'Uploading' : item.state === 'uploaded' ? 'Done' : 'Failed';
    content = (
      <Stack gap={6}>
        <Group justify="space-between" wrap="nowrap">
          <Text size="sm" fw={500} truncate>
            {item.fileName}
          </Text>
          <StatusBadge label={label} />
        </Group>
        {item.state === 'rejected' ? (
          <Text size="sm" c="red" role="alert">
            {item.error}
          </Text>
        ) : null}
        {item.state === 'uploaded' ? (
          <Text size="sm" c="dimmed">
            Stored; no model is active, so it was not analysed.
          </Text>
        ) : null}
      </Stack>
    );
  }
  return (
    <Paper withBorder p="sm" radius="md" component="li" aria-label={item.fileName}>
      {content}
    </Paper>
  );
}
