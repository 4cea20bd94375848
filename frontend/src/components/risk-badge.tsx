import { Badge, VisuallyHidden } from '@mantine/core';

import type { RiskCategory } from '@/lib/api-types';
import { formatPercent } from '@/lib/format';
import { isRiskCategory } from '@/lib/vocabulary';

const LABELS: Record<RiskCategory, string> = { refer: 'Refer', routine: 'Routine' };
// What the colour says, for a screen reader (the badge's own text stays the short word clinicians scan for).
const MEANINGS: Record<RiskCategory, string> = {
  refer: ' (melanoma probability at or above the referral threshold)',
  routine: ' (melanoma probability below the referral threshold)',
};

/** `category` is null (or, from the looser batch-result schema, blank) until a prediction is done. */
export function RiskBadge({ category, probability }: { category: string | null; probability?: number | null }) {
  if (!isRiskCategory(category)) return <Badge color="gray" variant="outline">No result</Badge>;
  const suffix = probability === undefined || probability === null ? '' : ` · ${formatPercent(probability)}`;
  return (
    <>
      <Badge color={category === 'refer' ? 'red' : 'teal'} variant={category === 'refer' ? 'filled' : 'outline'}>
        {LABELS[category]}
        {suffix}
      </Badge>
      <VisuallyHidden>{MEANINGS[category]}</VisuallyHidden>
    </>
  );
}
