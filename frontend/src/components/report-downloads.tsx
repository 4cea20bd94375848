import { Button, Group, Text } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import type { ReactNode } from 'react';

import { downloadFile } from '@/lib/download';

/** The server's documents (docs/api.md "Reports and exports"): each one a request, audited there as a read. */
export const reportDownloads = {
  visitPdf: (predictionId: number) =>
    downloadFile(`predictions/${predictionId}/report.pdf`, `naevus-visit-${predictionId}.pdf`),
  visitFhir: (predictionId: number) =>
    downloadFile(`predictions/${predictionId}/fhir/`, `naevus-visit-${predictionId}.fhir.json`),
  patientPdf: (patientId: number) => downloadFile(`patients/${patientId}/report.pdf`, `naevus-patient-${patientId}.pdf`),
  referralPdf: (reviewId: number) =>
    downloadFile(`reviews/${reviewId}/referral.pdf`, `naevus-referral-${reviewId}.pdf`),
};

function DownloadButton({ download, children }: { download: () => Promise<void>; children: ReactNode }) {
  const mutation = useMutation({ mutationFn: download });
  return (
    <div>
      <Button variant="default" size="xs" loading={mutation.isPending} onClick={() => mutation.mutate()}>
        {children}
      </Button>
      {mutation.isError ? (
        <Text size="xs" c="red.8" role="alert">
          {mutation.error.message}
        </Text>
      ) : null}
    </div>
  );
}

/** One lesion visit (an image's analysis): its PDF report and its FHIR export. */
export function VisitDownloads({ predictionId }: { predictionId: number }) {
  return (
    <Group gap="xs" aria-label="Visit downloads" role="group">
      <DownloadButton download={() => reportDownloads.visitPdf(predictionId)}>Visit report (PDF)</DownloadButton>
      <DownloadButton download={() => reportDownloads.visitFhir(predictionId)}>FHIR export (JSON)</DownloadButton>
    </Group>
  );
}

export function PatientReportButton({ patientId }: { patientId: number }) {
  return <DownloadButton download={() => reportDownloads.patientPdf(patientId)}>Patient report (PDF)</DownloadButton>;
}

export function ReferralLetterButton({ reviewId }: { reviewId: number }) {
  return <DownloadButton download={() => reportDownloads.referralPdf(reviewId)}>Referral letter (PDF)</DownloadButton>;
}
