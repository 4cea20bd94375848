import { Alert, Text } from '@mantine/core';

import type { Prediction } from '@/lib/api-types';

export const OOD_TITLE = 'Outside what this model was trained on';

/**
 * The out-of-distribution warning: the image's embedding lies further from the model's training
 * images than almost all of them (classifier.inference.ood). The score is still shown, but it says
 * little about an image unlike anything the model learned from.
 */
export function OodNotice({ prediction }: { prediction: Prediction }) {
  if (!prediction.ood_flag) return null;
  return (
    <Alert
      color="orange"
      variant="light"
      p="xs"
      title={OOD_TITLE}
      role="status"
      data-testid="ood-warning"
      styles={{ title: { color: 'var(--mantine-color-text)' } }}
    >
      <Text size="xs">
        This image is unlike the images the model learned from (for example, not a dermoscopic image of a skin
        lesion). Do not rely on its score.
      </Text>
    </Alert>
  );
}
