import { Badge, Group, Loader, Text, Tooltip } from '@mantine/core';

import { DemoBadge } from '@/components/model-tag';

import { useHealth } from '../api/get-health';

/**
 * Always in view so that nobody reads a demo model's score as a clinical one. It used to render nothing until
 * the health check answered, so a page whose own data came back first (the Models page after a reload, the
 * patient list after sign-in) showed a header with no model at all; now the slot is held, and a failed check
 * says so instead of vanishing.
 */
export function ActiveModelIndicator() {
  const health = useHealth();
  if (health.isPending) {
    return (
      <Group gap={6} wrap="nowrap" visibleFrom="sm" role="status" aria-label="Active model">
        <Loader size={12} />
        <Text size="xs" c="dimmed">
          Checking the active model…
        </Text>
      </Group>
    );
  }
  if (health.isError) {
    return (
      <Group gap={6} wrap="nowrap" visibleFrom="sm" role="status" aria-label="Active model">
        <Tooltip label="The service status could not be read; check each result's model label">
          <Badge color="red" variant="light">
            model status unknown
          </Badge>
        </Tooltip>
      </Group>
    );
  }
  const { model, database, broker } = health.data;
  const degraded = database !== 'ok' || broker !== 'ok';
  return (
    <Group gap={6} wrap="nowrap" visibleFrom="sm" role="status" aria-label="Active model">
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
