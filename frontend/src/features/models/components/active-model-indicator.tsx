import { Badge, Group, Text, Tooltip } from '@mantine/core';

import { DemoBadge } from '@/components/model-tag';

import { useHealth } from '../api/get-health';

/** Always in view so that nobody reads a demo model's score as a clinical one. */
export function ActiveModelIndicator() {
  const health = useHealth();
  if (!health.data) return null;
  const { model, database, broker } = health.data;
  const degraded = database !== 'ok' || broker !== 'ok';
  return (
    <Group gap={6} wrap="nowrap" visibleFrom="sm">
      {model ? (
        <Text size="xs" c="dimmed" truncate>
          Model {model.name} v{model.version}
        </Text>
      ) : (
        <Text size="xs" c="dimmed">
          No active model
        </Text>
      )}
      {model ? <DemoBadge model={model} /> : null}
      {degraded ? (
        <Tooltip label="Analysis may be delayed: a backend service is unavailable">
          <Badge color="red" variant="light">
            service degraded
          </Badge>
        </Tooltip>
      ) : null}
    </Group>
  );
}
