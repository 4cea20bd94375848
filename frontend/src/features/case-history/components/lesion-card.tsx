import { Alert, Button, Card, Group, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link } from 'react-router';

import { CompareVisitsButton } from '@/components/compare-visits-button';
import { EmptyState } from '@/components/query-state';
import type { HistoryLesion, StoredImage } from '@/lib/api-types';
import { formatDate } from '@/lib/format';
import { paths } from '@/lib/paths';

import { CompareImages } from './compare-images';
import { LesionImage } from './lesion-image';
import { OutcomeForm } from './outcome-form';
import { OutcomeList } from './outcome-list';

export const OUTLIER_CAVEAT = 'within-patient dissimilarity, not a diagnosis';

/**
 * The "ugly duckling" score: how far this lesion's newest analysed image lies from the patient's other
 * lesions in the model's embedding space. The most dissimilar lesion is highlighted; the others show
 * their score quietly.
 */
function OutlierNote({ outlier }: { outlier: NonNullable<HistoryLesion['outlier']> }) {
  const score = outlier.score.toFixed(2);
  if (outlier.rank === 1) {
    return (
      <Alert
        color="grape"
        variant="light"
        p="xs"
        title={`Odd one out: the most dissimilar of this patient's ${outlier.lesions} lesions`}
        data-testid="outlier-highlight"
        styles={{ title: { color: 'var(--mantine-color-text)' } }}
      >
        <Text size="xs">
          Score {score} (its distance to the other lesions, relative to the patient's typical spread) —{' '}
          {OUTLIER_CAVEAT}.
        </Text>
      </Alert>
    );
  }
  return (
    <Text size="xs" c="dimmed" data-testid="outlier-score">
      Dissimilarity to this patient's other lesions: {score} (rank {outlier.rank} of {outlier.lesions}) —{' '}
      {OUTLIER_CAVEAT}
    </Text>
  );
}

export function LesionCard({ patientId, lesion }: { patientId: number; lesion: HistoryLesion }) {
  const [compareIds, setCompareIds] = useState<number[]>([]);
  const [recording, setRecording] = useState(false);

  // Keeps at most two selected; a third tick replaces the older pick.
  const toggleCompare = (imageId: number) =>
    setCompareIds((ids) => (ids.includes(imageId) ? ids.filter((id) => id !== imageId) : [...ids, imageId].slice(-2)));
  const compared = compareIds
    .map((id) => lesion.images.find((image) => image.id === id))
    .filter((image): image is StoredImage => image !== undefined);

  const title = lesion.label || `Lesion ${lesion.id}`;
  return (
    <Card withBorder radius="md" padding="md" component="section" aria-label={title}>
      <Stack>
        <Group justify="space-between" wrap="wrap">
          <div>
            <Title order={3} size="h4">
              {title}
            </Title>
            <Text size="xs" c="dimmed">
              {lesion.anatomic_site} · recorded {formatDate(lesion.created_at)}
            </Text>
          </div>
          <Group gap="xs">
            <Button component={Link} to={paths.upload.to(patientId, lesion.id)} variant="light" size="xs">
              Add images
            </Button>
            <CompareVisitsButton lesionId={lesion.id} images={lesion.images} ticked={compareIds} />
            <Button variant="default" size="xs" onClick={() => setRecording(true)} disabled={recording}>
              Record biopsy outcome
            </Button>
          </Group>
        </Group>

        {lesion.outlier ? <OutlierNote outlier={lesion.outlier} /> : null}

        <OutcomeList outcomes={lesion.outcomes} />

        {recording ? (
          <OutcomeForm patientId={patientId} lesionId={lesion.id} onDone={() => setRecording(false)} />
        ) : null}

        {lesion.images.length === 0 ? (
          <EmptyState title="No images yet">Add a dermoscopic image to get a risk estimate.</EmptyState>
        ) : (
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} aria-label="Image timeline">
            {lesion.images.map((image) => (
              <LesionImage
                key={image.id}
                image={image}
                selected={compareIds.includes(image.id)}
                onToggleCompare={toggleCompare}
              />
            ))}
          </SimpleGrid>
        )}
        {compared.length === 2 ? (
          <CompareImages images={[compared[0], compared[1]]} />
        ) : lesion.images.length > 1 ? (
          <Text size="xs" c="dimmed">
            Tick “Compare” on two images to see them side by side.
          </Text>
        ) : null}
      </Stack>
    </Card>
  );
}
