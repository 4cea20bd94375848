import { Box, Checkbox, Group, Paper, Stack, Switch, Text } from '@mantine/core';
import { useState } from 'react';

import { AuthImage } from '@/components/auth-image';
import { PredictionSummary, usePrediction } from '@/components/prediction-summary';
import { VisitDownloads } from '@/components/report-downloads';
import type { Prediction, StoredImage } from '@/lib/api-types';
import { formatDate, formatDateTime } from '@/lib/format';

/** The image with its heatmap laid over it, both scaled to the same box so the regions line up. */
export function ImageWithHeatmap({
  image,
  heatmapUrl,
  showHeatmap,
}: {
  image: StoredImage;
  heatmapUrl: string | null;
  showHeatmap: boolean;
}) {
  return (
    <Box pos="relative" style={{ aspectRatio: `${image.width} / ${image.height}` }} w="100%">
      <AuthImage src={image.file_url} alt={`Lesion image from ${formatDate(image.captured_at ?? image.uploaded_at)}`} h="100%" fit="contain" radius="sm" />
      {showHeatmap && heatmapUrl ? (
        <Box pos="absolute" inset={0} style={{ opacity: 0.6, pointerEvents: 'none' }} data-testid="heatmap-overlay">
          <AuthImage src={heatmapUrl} alt="Heatmap over the lesion image: warmer colours mark the regions that most raised the melanoma score" h="100%" fit="contain" radius="sm" />
        </Box>
      ) : null}
    </Box>
  );
}

function LatestPrediction({ image, initial }: { image: StoredImage; initial: Prediction }) {
  const { data: prediction } = usePrediction(initial);
  const [showHeatmap, setShowHeatmap] = useState(false);
  return (
    <Stack gap="xs">
      <ImageWithHeatmap image={image} heatmapUrl={prediction.heatmap_url} showHeatmap={showHeatmap} />
      <Switch
        label="Show heatmap"
        checked={showHeatmap}
        disabled={!prediction.heatmap_url}
        onChange={(event) => setShowHeatmap(event.currentTarget.checked)}
      />
      <PredictionSummary prediction={prediction} detailed />
      {prediction.status === 'done' ? <VisitDownloads predictionId={prediction.id} /> : null}
    </Stack>
  );
}

export function LesionImage({
  image,
  selected,
  onToggleCompare,
}: {
  image: StoredImage;
  selected: boolean;
  onToggleCompare: (imageId: number) => void;
}) {
  const [latest, ...earlier] = image.predictions;
  return (
    <Paper withBorder p="sm" radius="md" component="article" aria-label={`Image ${image.id}`}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="nowrap">
          <Text size="sm" fw={500}>
            {formatDateTime(image.captured_at ?? image.uploaded_at)}
          </Text>
          <Text size="xs" c="dimmed" tt="capitalize">
            {image.kind}
          </Text>
        </Group>
        {latest ? (
          <LatestPrediction image={image} initial={latest} />
        ) : (
          <>
            <ImageWithHeatmap image={image} heatmapUrl={null} showHeatmap={false} />
            <Text size="sm" c="dimmed">
              Not analysed
            </Text>
          </>
        )}
        {earlier.length > 0 ? (
          <details>
            <summary>
              <Text span size="xs">
                Earlier results ({earlier.length})
              </Text>
            </summary>
            <Stack gap="xs" mt="xs">
              {earlier.map((prediction) => (
                <PredictionSummary key={prediction.id} prediction={prediction} />
              ))}
            </Stack>
          </details>
        ) : null}
        <Checkbox
          label="Compare"
          checked={selected}
          onChange={() => onToggleCompare(image.id)}
          aria-label={`Compare image from ${formatDateTime(image.captured_at ?? image.uploaded_at)}`}
        />
      </Stack>
    </Paper>
  );
}
