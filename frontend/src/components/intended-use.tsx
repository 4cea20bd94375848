import { Alert } from '@mantine/core';

export const INTENDED_USE =
  'Decision support only — not a diagnosis. The score estimates how likely a lesion image is to show melanoma; ' +
  'a clinician must interpret it together with the history and examination, and a low score does not rule melanoma out.';

export function IntendedUse() {
  return (
    <Alert variant="light" color="blue" title="Intended use" role="note" aria-label="Intended use">
      {INTENDED_USE}
    </Alert>
  );
}
