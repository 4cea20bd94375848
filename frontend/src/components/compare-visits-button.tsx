import { Button } from '@mantine/core';
import { Link } from 'react-router';

import type { StoredImage } from '@/lib/api-types';
import { paths } from '@/lib/paths';

const analysed = (image: StoredImage) =>
  image.predictions.some((p) => p.status === 'done' && p.melanoma_probability !== null);

/**
 * Opens the follow-up comparison of a lesion: of the two images ticked for comparison when both are analysed,
 * else of its two latest visits. Nothing while the lesion has fewer than two analysed images.
 */
export function CompareVisitsButton({ lesionId, images, ticked }: { lesionId: number; images: StoredImage[]; ticked: number[] }) {
  const visits = images.filter(analysed).map((image) => image.id);
  if (visits.length < 2) return null;
  const pair = ticked.length === 2 && ticked.every((id) => visits.includes(id)) ? ([ticked[0], ticked[1]] as const) : undefined;
  return (
    <Button component={Link} to={paths.comparison.to(lesionId, pair)} variant="light" size="xs">
      {pair ? 'Compare the ticked visits' : 'Compare latest visits'}
    </Button>
  );
}
