import { Badge, Group, Stack, Text } from '@mantine/core';

import type { Outcome } from '@/lib/api-types';
import { formatDate } from '@/lib/format';

/** A lesion's biopsy outcomes, one line each: the case history and the worklist show them alike. */
export function OutcomeList({ outcomes }: { outcomes: Outcome[] }) {
  if (outcomes.length === 0) return null;
  return (
    <Stack gap={4} aria-label="Biopsy outcomes">
      {outcomes.map((outcome) => (
        <Group key={outcome.id} gap="xs">
          <Badge color={outcome.benign_malignant === 'malignant' ? 'red' : 'teal'} variant="outline">
            Biopsy: {outcome.benign_malignant}
          </Badge>
          <Text size="sm">
            {outcome.diagnosis} · {formatDate(outcome.date)}
          </Text>
          {outcome.notes ? (
            <Text size="xs" c="dimmed">
              {outcome.notes}
            </Text>
          ) : null}
        </Group>
      ))}
    </Stack>
  );
}
