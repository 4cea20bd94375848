import { Alert, Badge, Button, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';

import { api } from '@/lib/api-client';
import type { Prediction } from '@/lib/api-types';
import { formatDateTime } from '@/lib/format';

import { predictionQueryKey } from './prediction-summary';

export const dismissQualityAdvice = (predictionId: number) =>
  api.post<Prediction>(`predictions/${predictionId}/quality/dismiss/`);

/**
 * The image-quality gate's advice on a finished prediction: the score stays, but a blurred, badly
 * exposed or badly framed photo is marked "retake advised" until a clinician dismisses it.
 */
export function QualityNotice({ prediction }: { prediction: Prediction }) {
  const queryClient = useQueryClient();
  const dismiss = useMutation({
    mutationFn: () => dismissQualityAdvice(prediction.id),
    onSuccess: (updated) => {
      queryClient.setQueryData(predictionQueryKey(updated.id), updated);
      return queryClient.invalidateQueries({ queryKey: ['patients'] });
    },
  });
  const quality = prediction.quality;
  if (!quality?.label) return null;
  if (quality.dismissed) {
    return (
      <Text size="xs" c="dimmed" data-testid="quality-dismissed">
        {quality.label} — dismissed{quality.dismissed_at ? ` ${formatDateTime(quality.dismissed_at)}` : ''}
      </Text>
    );
  }
  return (
    <Alert
      color="yellow"
      variant="light"
      p="xs"
      title={quality.label}
      role="status"
      data-testid="quality-advice"
      // The light alert's yellow title reads 2.9:1 on its own background (axe color-contrast): body text colour.
      styles={{ title: { color: 'var(--mantine-color-text)' } }}
    >
      <Text size="xs">The score was computed, but may not be reliable on this photo.</Text>
      <Button
        size="compact-xs"
        variant="subtle"
        mt={4}
        loading={dismiss.isPending}
        onClick={() => dismiss.mutate()}
      >
        Dismiss: the image is adequate
      </Button>
      {dismiss.isError ? (
        <Text size="xs" c="red" role="alert">
          {(dismiss.error as Error).message}
        </Text>
      ) : null}
    </Alert>
  );
}

/** The batch table's short form of the same advice. */
export function QualityBadge({ label, dismissed }: { label: string | null; dismissed: boolean }) {
  if (!label) return null;
  return (
    <Badge color={dismissed ? 'gray' : 'yellow'} variant="light" size="sm" tt="none">
      {label}
      {dismissed ? ' — dismissed' : ''}
    </Badge>
  );
}
