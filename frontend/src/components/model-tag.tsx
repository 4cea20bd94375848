import { Badge, Group, Text } from '@mantine/core';

import type { ModelVersionBrief } from '@/lib/api-types';

export const DEMO_LABEL = 'demo — not for clinical use';

export function DemoBadge({ model }: { model: Pick<ModelVersionBrief, 'is_demo'> }) {
  if (!model.is_demo) return null;
  return (
    // Never shrunk: in a narrow header the model's name gives way, the warning is never cut to "DEMO — NOT FOR CLINI…".
    <Badge
      color="orange"
      c="black"
      variant="filled"
      radius="sm"
      title="This model is a demonstration and must not inform care"
      style={{ flexShrink: 0 }}
    >
      {DEMO_LABEL}
    </Badge>
  );
}

export function ModelTag({ model }: { model: ModelVersionBrief }) {
  return (
    <Group gap={6} wrap="wrap">
      <Text size="sm" c="dimmed">
        Model {model.name} v{model.version}
      </Text>
      <DemoBadge model={model} />
    </Group>
  );
}
