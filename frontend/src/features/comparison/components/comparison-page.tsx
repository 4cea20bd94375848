import { Anchor, Box, Breadcrumbs, Group, NativeSelect, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { Link, useNavigate } from 'react-router';

import { AuthImage } from '@/components/auth-image';
import { DemoBadge } from '@/components/model-tag';
import { ErrorState, LoadingState } from '@/components/query-state';
import { RiskBadge } from '@/components/risk-badge';
import { ThresholdCrossingBadge } from '@/components/threshold-crossing-badge';
import type { Visit } from '@/lib/api-types';
import { formatDate, formatPercent } from '@/lib/format';
import { paths } from '@/lib/paths';

import { useComparison } from '../api/get-comparison';

/** Both images in boxes of one CSS size, each scaled to fit (object-fit: contain), so neither looks larger. */
export const IMAGE_BOX_HEIGHT = 360;

/** "+12.5 points" / "−3.0 points" / "no change": the later probability minus the earlier, in percentage points. */
export function formatChange(change: number): string {
  const points = change * 100;
  if (Math.abs(points) < 0.05) return 'no change';
  return `${points > 0 ? '+' : '−'}${Math.abs(points).toFixed(1)} percentage points`;
}

export function formatInterval(days: number): string {
  return days === 1 ? '1 day' : `${days} days`;
}

function VisitPanel({ title, visit }: { title: string; visit: Visit }) {
  const p = visit.prediction;
  return (
    <Paper withBorder p="sm" radius="md" component="section" aria-label={title}>
      <Stack gap="xs">
        <Title order={2} size="h4">
          {title} · {formatDate(visit.visit_at)}
        </Title>
        <Box h={IMAGE_BOX_HEIGHT} w="100%" bg="gray.1" data-testid="comparison-image-box">
          <AuthImage
            src={visit.file_url}
            alt={`${title}: lesion image from ${formatDate(visit.visit_at)}`}
            h="100%"
            w="100%"
            style={{ objectFit: 'contain' }}
          />
        </Box>
        <Group gap="xs" wrap="wrap">
          <RiskBadge category={p.risk_category} probability={p.melanoma_probability} />
        </Group>
        <Text size="sm">Melanoma probability {formatPercent(p.melanoma_probability)}</Text>
        <Text size="sm">Threshold {formatPercent(p.threshold)}</Text>
        <Group gap={6} wrap="wrap">
          <Text size="sm">
            Model {p.model_version.name} v{p.model_version.version}
          </Text>
          <DemoBadge model={p.model_version} />
        </Group>
      </Stack>
    </Paper>
  );
}

/**
 * Two visits of one lesion side by side (by default its two latest), the earlier on the left, with both results,
 * the change in probability, the days between them and, when the later crossed its threshold from below, a badge.
 */
export function ComparisonPage({ lesionId, images }: { lesionId: number; images: readonly [number, number] | null }) {
  const comparison = useComparison(lesionId, images);
  const navigate = useNavigate();

  if (comparison.isPending) return <LoadingState label="Loading the comparison…" />;
  if (comparison.isError) return <ErrorState error={comparison.error} onRetry={() => comparison.refetch()} />;
  const c = comparison.data;
  const title = c.lesion_label || `Lesion ${c.lesion_id}`;
  const options = c.visits.map((visit) => ({
    value: String(visit.image_id),
    label: `${formatDate(visit.visit_at)} · ${formatPercent(visit.prediction.melanoma_probability)}`,
  }));
  const choose = (earlier: number, later: number) => {
    if (earlier !== later) void navigate(paths.comparison.to(lesionId, [earlier, later]));
  };

  return (
    <Stack>
      <Breadcrumbs>
        <Anchor component={Link} to={paths.patient.to(c.patient_id)}>
          Case history
        </Anchor>
        <Text size="sm">{title}</Text>
      </Breadcrumbs>
      <div>
        <Title order={1} size="h2">
          Follow-up comparison: {title}
        </Title>
        <Text size="sm" c="dimmed">
          {c.anatomic_site}
        </Text>
      </div>
      <Group gap="lg" wrap="wrap" aria-label="Change between the visits" role="group">
        <ThresholdCrossingBadge crossed={c.crossed_threshold_upward} />
        <Text size="sm">
          <b>Change:</b> {formatChange(c.probability_change)}
        </Text>
        <Text size="sm">
          <b>Interval:</b> {formatInterval(c.days_between)}
        </Text>
      </Group>
      {c.visits.length > 2 ? (
        <Group gap="md" wrap="wrap">
          <NativeSelect
            label="Earlier image"
            data={options}
            value={String(c.earlier.image_id)}
            onChange={(event) => choose(Number(event.currentTarget.value), c.later.image_id)}
          />
          <NativeSelect
            label="Later image"
            data={options}
            value={String(c.later.image_id)}
            onChange={(event) => choose(c.earlier.image_id, Number(event.currentTarget.value))}
          />
        </Group>
      ) : null}
      <SimpleGrid cols={2} spacing="md">
        <VisitPanel title="Earlier visit" visit={c.earlier} />
        <VisitPanel title="Later visit" visit={c.later} />
      </SimpleGrid>
    </Stack>
  );
}
