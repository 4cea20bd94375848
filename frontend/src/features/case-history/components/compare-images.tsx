import { Paper, SimpleGrid, Stack, Switch, Text, Title } from '@mantine/core';
import { useState } from 'react';

import type { StoredImage } from '@/lib/api-types';
import { formatDate } from '@/lib/format';

import { ImageWithHeatmap } from './lesion-image';

/** Two images of one lesion side by side, oldest on the left, to judge change over time. */
export function CompareImages({ images }: { images: [StoredImage, StoredImage] }) {
  const [showHeatmap, setShowHeatmap] = useState(false);
  const sorted = [...images].sort((a, b) =>
    (a.captured_at ?? a.uploaded_at).localeCompare(b.captured_at ?? b.uploaded_at),
  );
  return (
    <Paper withBorder p="md" radius="md" aria-label="Side-by-side comparison" component="section">
      <Stack>
        <Title order={4}>Compare over time</Title>
        <Switch label="Show heatmaps" checked={showHeatmap} onChange={(e) => setShowHeatmap(e.currentTarget.checked)} />
        <SimpleGrid cols={2}>
          {sorted.map((image) => {
            const done = image.predictions.find((p) => p.status === 'done');
            return (
              <Stack key={image.id} gap={4}>
                <Text size="sm" fw={500}>
                  {formatDate(image.captured_at ?? image.uploaded_at)}
                </Text>
                <ImageWithHeatmap image={image} heatmapUrl={done?.heatmap_url ?? null} showHeatmap={showHeatmap} />
              </Stack>
            );
          })}
        </SimpleGrid>
      </Stack>
    </Paper>
  );
}
