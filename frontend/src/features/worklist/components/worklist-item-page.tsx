import { Anchor, Breadcrumbs, Button, Group, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link } from 'react-router';

import { CompareVisitsButton } from '@/components/compare-visits-button';
import { EmptyState, ErrorState, LoadingState } from '@/components/query-state';
import { CompareImages } from '@/features/case-history/components/compare-images';
import { LesionImage } from '@/features/case-history/components/lesion-image';
import { OutcomeList } from '@/features/case-history/components/outcome-list';
import type { StoredImage, WorklistFilter, WorklistSort } from '@/lib/api-types';
import { paths } from '@/lib/paths';
import { WORKLIST_FILTERS, WORKLIST_SORTS } from '@/lib/vocabulary';

import { useWorklistLesion } from '../api/get-worklist';
import { ReviewPanel } from './review-panel';

/**
 * One lesion as the worklist opens it: the patient, every image newest first with its heatmap and class
 * probabilities, earlier images and results of the same lesion, its biopsy outcomes, the review of its latest
 * result (signed reads and the form for the next one), and "Next" to the following lesion of the same queue
 * without going back to the list (in the order the list was sorted by).
 */
export function WorklistItemPage({ lesionId, filter, sort }: { lesionId: number; filter: WorklistFilter; sort: WorklistSort }) {
  const item = useWorklistLesion(lesionId, filter, sort);
  const [compareIds, setCompareIds] = useState<number[]>([]);

  if (item.isPending) return <LoadingState label="Loading the lesion…" />;
  if (item.isError) return <ErrorState error={item.error} onRetry={() => item.refetch()} />;
  const lesion = item.data;
  const title = lesion.label || `Lesion ${lesion.id}`;
  const toggleCompare = (imageId: number) =>
    setCompareIds((ids) => (ids.includes(imageId) ? ids.filter((id) => id !== imageId) : [...ids, imageId].slice(-2)));
  // The result the worklist lists (and a review is about): the newest image's latest finished prediction.
  const result = lesion.images
    .flatMap((image) => image.predictions.filter((p) => p.status === 'done' && p.melanoma_probability !== null).slice(0, 1))
    .at(0);
  const compared = compareIds
    .map((id) => lesion.images.find((image) => image.id === id))
    .filter((image): image is StoredImage => image !== undefined);

  return (
    <Stack>
      <Breadcrumbs>
        <Anchor component={Link} to={paths.worklist.to(filter, sort)}>
          Worklist: {WORKLIST_FILTERS[filter].label}
          {sort === 'risk' ? '' : ` (${WORKLIST_SORTS[sort].label.toLowerCase()} first)`}
        </Anchor>
        <Text size="sm">{title}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-start" wrap="wrap">
        <div>
          <Title order={1} size="h2">
            {title}
          </Title>
          <Text size="sm" c="dimmed">
            {lesion.anatomic_site} ·{' '}
            <Anchor component={Link} to={paths.patient.to(lesion.patient.id)} size="sm" underline="always">
              {lesion.patient.name}
            </Anchor>{' '}
            · MRN {lesion.patient.mrn}
            {lesion.patient.age !== null ? ` · ${lesion.patient.age} y` : ''} · {lesion.patient.sex}
          </Text>
        </div>
        {lesion.next_lesion_id !== null ? (
          <Button component={Link} to={paths.worklistItem.to(lesion.next_lesion_id, filter, sort)}>
            Next lesion
          </Button>
        ) : (
          <Text size="sm" c="dimmed" role="status">
            Last lesion in this queue
          </Text>
        )}
      </Group>

      <Group>
        <CompareVisitsButton lesionId={lesion.id} images={lesion.images} ticked={compareIds} />
      </Group>

      {result ? <ReviewPanel key={result.id} predictionId={result.id} /> : null}

      <OutcomeList outcomes={lesion.outcomes} />

      {lesion.images.length === 0 ? (
        <EmptyState title="No images">This lesion has no images left.</EmptyState>
      ) : (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} aria-label="Image timeline">
          {lesion.images.map((image) => (
            <LesionImage key={image.id} image={image} selected={compareIds.includes(image.id)} onToggleCompare={toggleCompare} />
          ))}
        </SimpleGrid>
      )}
      {compared.length === 2 ? <CompareImages images={[compared[0], compared[1]]} /> : null}
    </Stack>
  );
}
