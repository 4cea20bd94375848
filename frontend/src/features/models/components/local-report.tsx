import { Stack, Table, Text, Title } from '@mantine/core';

import { AuthImage } from '@/components/auth-image';
import type { Measured, OperatingPoint } from '@/lib/api-types';
import { formatPercent } from '@/lib/format';

function withInterval(value: number | null, interval: (number | null)[] | null | undefined, percent = true): string {
  const show = (v: number | null) => (percent ? formatPercent(v) : v === null ? '—' : v.toFixed(3));
  const [lo, hi] = interval ?? [];
  return lo != null && hi != null ? `${show(value)} (${show(lo)}–${show(hi)})` : show(value);
}

const ROWS: [string, (m: Measured) => string][] = [
  ['Referral threshold', (m) => formatPercent(m.threshold)],
  ['ROC AUC (95% CI)', (m) => withInterval(m.roc_auc, m.roc_auc_ci95, false)],
  ['Sensitivity (95% CI)', (m) => withInterval(m.sensitivity, m.sensitivity_ci95)],
  ['Specificity (95% CI)', (m) => withInterval(m.specificity, m.specificity_ci95)],
  ['Calibration error (ECE)', (m) => withInterval(m.ece, m.ece_ci95, false)],
];

/** A clinic's local validation report, shown next to the version's training metrics. */
export function LocalReport({ point, label }: { point: OperatingPoint; label: string }) {
  const { report } = point;
  return (
    <Stack gap="xs" component="section" aria-label={`Local validation at clinic ${point.clinic_id}`}>
      <Title order={3} size="h5">
        Local validation at clinic {point.clinic_id}
      </Title>
      <Text size="xs" c="dimmed">
        Measured on {report.n} confirmed outcomes ({report.melanomas} melanoma, {report.benign} benign, {report.patients} patients).
        The clinic threshold is chosen on these same cases for {formatPercent(report.target_sensitivity, 0)} sensitivity;
        the intervals show how far that carries. New predictions at this clinic use it.
      </Text>
      <Table.ScrollContainer minWidth={320}>
        <Table withTableBorder verticalSpacing={4} aria-label={`Local validation of ${label} at clinic ${point.clinic_id}`}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th />
              <Table.Th>Global operating point</Table.Th>
              <Table.Th>Clinic operating point</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {ROWS.map(([name, show]) => (
              <Table.Tr key={name}>
                <Table.Td>{name}</Table.Td>
                <Table.Td ff="monospace">{show(report.global)}</Table.Td>
                <Table.Td ff="monospace">{show(report.local)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {point.reliability_plot_url ? (
        <AuthImage
          src={point.reliability_plot_url}
          alt={`Reliability diagram of ${label} at clinic ${point.clinic_id}`}
          fit="contain"
          radius="sm"
          maw={360}
        />
      ) : null}
    </Stack>
  );
}
