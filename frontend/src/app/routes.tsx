import { Navigate, type RouteObject, useParams, useSearchParams } from 'react-router';

import { EmptyState } from '@/components/query-state';
import { useMe } from '@/features/auth/api/get-me';
import { RequireAuth } from '@/features/auth/components/require-auth';
import { SignInPage } from '@/features/auth/components/sign-in-page';
import { BatchPage } from '@/features/batches/components/batch-page';
import { BatchesPage } from '@/features/batches/components/batches-page';
import { CaseHistoryPage } from '@/features/case-history/components/case-history-page';
import { ComparisonPage } from '@/features/comparison/components/comparison-page';
import { ModelsPage } from '@/features/models/components/models-page';
import { PatientEditPage } from '@/features/patients/components/patient-edit-page';
import { PatientsPage } from '@/features/patients/components/patients-page';
import { UploadPage } from '@/features/uploads/components/upload-page';
import { WorklistItemPage } from '@/features/worklist/components/worklist-item-page';
import { WorklistPage } from '@/features/worklist/components/worklist-page';
import type { WorklistFilter, WorklistSort } from '@/lib/api-types';
import { paths } from '@/lib/paths';
import { isWorklistFilter, isWorklistSort } from '@/lib/vocabulary';

import { Shell } from './shell';

function useIdParam(name: string): number | null {
  const value = Number(useParams()[name]);
  return Number.isInteger(value) && value > 0 ? value : null;
}

const NotFound = () => <EmptyState title="Page not found">The address does not match any page.</EmptyState>;

function PatientRoute() {
  const patientId = useIdParam('patientId');
  return patientId ? <CaseHistoryPage key={patientId} patientId={patientId} /> : <NotFound />;
}

function PatientEditRoute() {
  const patientId = useIdParam('patientId');
  return patientId ? <PatientEditPage key={patientId} patientId={patientId} /> : <NotFound />;
}

function UploadRoute() {
  const patientId = useIdParam('patientId');
  const lesion = Number(useSearchParams()[0].get('lesion'));
  if (!patientId) return <NotFound />;
  return <UploadPage key={patientId} patientId={patientId} initialLesionId={Number.isInteger(lesion) && lesion > 0 ? lesion : null} />;
}

function BatchRoute() {
  const batchId = useIdParam('batchId');
  return batchId ? <BatchPage key={batchId} batchId={batchId} /> : <NotFound />;
}

/**
 * The queue named by `?filter=` (unreviewed when absent or unknown) in the order named by `?sort=` (risk when
 * absent or unknown), so a shared link opens the same queue.
 */
function useWorklistQueue(): [WorklistFilter, WorklistSort, (filter: WorklistFilter, sort: WorklistSort) => void] {
  const [params, setParams] = useSearchParams();
  const filter = params.get('filter');
  const sort = params.get('sort');
  return [
    isWorklistFilter(filter) ? filter : 'unreviewed',
    isWorklistSort(sort) ? sort : 'risk',
    (nextFilter, nextSort) => setParams(nextSort === 'risk' ? { filter: nextFilter } : { filter: nextFilter, sort: nextSort }),
  ];
}

function WorklistRoute() {
  const [filter, sort, setQueue] = useWorklistQueue();
  return <WorklistPage filter={filter} sort={sort} onQueueChange={setQueue} />;
}

function WorklistItemRoute() {
  const lesionId = useIdParam('lesionId');
  const [filter, sort] = useWorklistQueue();
  return lesionId ? (
    <WorklistItemPage key={`${lesionId}-${filter}-${sort}`} lesionId={lesionId} filter={filter} sort={sort} />
  ) : (
    <NotFound />
  );
}

/** `?images=1&images=2` chooses the two images; anything else compares the lesion's two latest visits. */
function ComparisonRoute() {
  const lesionId = useIdParam('lesionId');
  const chosen = useSearchParams()[0].getAll('images').map(Number);
  const images = chosen.length === 2 && chosen.every((id) => Number.isInteger(id) && id > 0) ? ([chosen[0], chosen[1]] as const) : null;
  if (!lesionId) return <NotFound />;
  return <ComparisonPage key={`${lesionId}-${images?.join('-') ?? ''}`} lesionId={lesionId} images={images} />;
}

function ModelsRoute() {
  const { data: me } = useMe();
  return <ModelsPage canActivate={me?.is_superuser ?? false} />;
}

export const routes: RouteObject[] = [
  { path: paths.signIn.pattern, element: <SignInPage /> },
  {
    element: <RequireAuth />,
    children: [
      {
        element: <Shell />,
        children: [
          { path: paths.home.pattern, element: <Navigate to={paths.patients.to()} replace /> },
          { path: paths.patients.pattern, element: <PatientsPage /> },
          { path: paths.patient.pattern, element: <PatientRoute /> },
          { path: paths.patientEdit.pattern, element: <PatientEditRoute /> },
          { path: paths.upload.pattern, element: <UploadRoute /> },
          { path: paths.worklist.pattern, element: <WorklistRoute /> },
          { path: paths.worklistItem.pattern, element: <WorklistItemRoute /> },
          { path: paths.comparison.pattern, element: <ComparisonRoute /> },
          { path: paths.batches.pattern, element: <BatchesPage /> },
          { path: paths.batch.pattern, element: <BatchRoute /> },
          { path: paths.models.pattern, element: <ModelsRoute /> },
          { path: '*', element: <NotFound /> },
        ],
      },
    ],
  },
];
