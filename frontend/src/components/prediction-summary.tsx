import { Group, Loader, Progress, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Prediction, PredictionStatus } from '@/lib/api-types';
import { formatPercent } from '@/lib/format';
import { STATUS_LABELS } from '@/lib/vocabulary';

import { ModelTag } from './model-tag';
import { OodNotice } from './ood-notice';
import { QualityNotice } from './quality-notice';
import { RiskBadge } from './risk-badge';

/** Clinicians wait on this screen for the result, so poll fast; the endpoint is a single-row read. */
export const PREDICTION_POLL_MS = 250;

export function isPending(status: PredictionStatus | undefined): boolean {
  return status === 'queued' || status === 'running';
}

export const predictionQueryKey = (id: number) => ['predictions', id] as const;

/** Follows one prediction live from its first known state until it is done, failed or cancelled. */
export function usePrediction(initial: Prediction) {
  return useQuery({
    queryKey: predictionQueryKey(initial.id),
    queryFn: ({ signal }) => api.get<Prediction>(`predictions/${initial.id}/`, undefined, signal),
    initialData: initial,
    staleTime: isPending(initial.status) ? 0 : Infinity,
    refetchInterval: (query) => (isPending(query.state.data?.status) ? PREDICTION_POLL_MS : false),
  });
}


/** Diagnosis-level models give a probability per class; binary models only melanoma vs benign. */
function classBreakdown(prediction: Prediction): [string, number][] {
  const probs = prediction.class_probabilities as Record<string, number> | null | undefined;
  if (!probs || typeof probs !== 'object') return [];
  return Object.entries(probs)
    .filter(([, p]) => typeof p === 'number')
    .sort((a, b) => b[1] - a[1]);
}

export function ClassProbabilities({ prediction }: { prediction: Prediction }) {
  const rows = classBreakdown(prediction);
  if (rows.length < 3) return null;
  const shown = rows.filter(([, p]) => p >= 0.01);
  return (
    <Stack gap={2} aria-label="Probability by diagnosis">
      <Text size="xs" fw={600}>
        By diagnosis (the model&apos;s class probabilities; triage uses the melanoma probability above)
      </Text>
      {shown.map(([name, p]) => (
        <Group key={name} gap="xs" wrap="nowrap">
          <Text size="xs" w={150}>
            {name}
          </Text>
          <Progress value={p * 100} w={120} size="sm" aria-hidden />
          <Text size="xs">{formatPercent(p)}</Text>
        </Group>
      ))}
      {shown.length < rows.length && (
        <Text size="xs" c="dimmed">
          {rows.length - shown.length} other classes below 1 %
        </Text>
      )}
    </Stack>
  );
}

const FIELD_LABELS: Record<string, string> = { age: 'age', sex: 'sex', site: 'site' };

/** What the score was computed from: null for models that score the image alone. */
export function scoredFrom(prediction: Prediction): string | null {
  const used = prediction.metadata_used;
  if (used == null) return null;
  if (used.length === 0) return 'Scored from: image only (no age, sex or site recorded)';
  return `Scored from: image + ${used.map((f) => FIELD_LABELS[f] ?? f).join(', ')}`;
}

export function PredictionSummary({
  prediction,
  detailed = false,
}: {
  prediction: Prediction;
  detailed?: boolean;
}) {
  if (isPending(prediction.status)) {
    return (
      <Stack gap={4}>
        <Group gap="xs" role="status" aria-live="polite">
          <Loader size="xs" />
          <Text size="sm">{STATUS_LABELS[prediction.status]}</Text>
        </Group>
        <ModelTag model={prediction.model_version} />
      </Stack>
    );
  }
  if (prediction.status !== 'done') {
    return (
      <Stack gap={4}>
        <Text size="sm" c="red" role="alert">
          {STATUS_LABELS[prediction.status]}
          {prediction.error ? `: ${prediction.error}` : ''}
        </Text>
        <ModelTag model={prediction.model_version} />
      </Stack>
    );
  }
  return (
    <Stack gap={4}>
      <Group gap="xs">
        <Text size="sm" fw={600}>
          Melanoma probability {formatPercent(prediction.melanoma_probability)}
        </Text>
        <RiskBadge category={prediction.risk_category} />
      </Group>
      <Text size="xs" c="dimmed">
        Referral threshold {formatPercent(prediction.threshold)}
      </Text>
      {scoredFrom(prediction) && (
        <Text size="xs" c="dimmed">
          {scoredFrom(prediction)}
        </Text>
      )}
      <OodNotice prediction={prediction} />
      <QualityNotice prediction={prediction} />
      {detailed && <ClassProbabilities prediction={prediction} />}
      <ModelTag model={prediction.model_version} />
    </Stack>
  );
}
