import { Badge } from '@mantine/core';

import type { MaybeRiskCategory, RiskCategory } from '@/lib/api-types';
import { formatPercent } from '@/lib/format';

const LABELS: Record<RiskCategory, string> = { refer: 'Refer', routine: 'Routine' };

export function RiskBadge({ category, probability }: { category: MaybeRiskCategory; probability?: number | null }) {
  if (!category) return <Badge color="gray" variant="light">No result</Badge>;
  const suffix = probability === undefined || probability === null ? '' : ` · ${formatPercent(probability)}`;
  return (
    <Badge color={category === 'refer' ? 'red' : 'teal'} variant={category === 'refer' ? 'filled' : 'light'}>
      {LABELS[category]}
      {suffix}
    </Badge>
  );
}
