import { Badge } from '@mantine/core';

import type { BatchStatus } from '@/lib/api-types';

const COLORS: Record<BatchStatus, string> = { running: 'blue', done: 'teal', cancelled: 'gray' };

export function BatchStatusBadge({ status }: { status: BatchStatus }) {
  return (
    <Badge color={COLORS[status]} variant="outline">
      {status}
    </Badge>
  );
}
