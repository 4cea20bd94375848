import { Badge, VisuallyHidden } from '@mantine/core';

export const CROSSED_LABEL = 'Crossed threshold upward';

/**
 * The follow-up warning: the earlier visit's result was below its threshold and the later one is at or above
 * its own (triage/followup.py). Words, not a colour alone, so that it reads the same in grey and aloud.
 */
export function ThresholdCrossingBadge({ crossed }: { crossed: boolean }) {
  if (!crossed) return null;
  return (
    <>
      <Badge color="grape" variant="filled" radius="sm" style={{ flexShrink: 0 }}>
        {CROSSED_LABEL}
      </Badge>
      <VisuallyHidden> (below the threshold at the earlier visit, at or above it at the later one)</VisuallyHidden>
    </>
  );
}
