// The API's shapes, as aliases of the types generated from the backend's OpenAPI schema
// (src/lib/api-schema.d.ts, from frontend/openapi.yaml: `make api-types`). Nothing here is written by hand,
// so `npm run typecheck` fails when the SPA and the serializers drift apart.
import type { components, operations } from './api-schema';

type Schemas = components['schemas'];

export type Me = Schemas['Me'];
export type Logout = Schemas['Logout'];

export type Sex = Schemas['SexEnum'];
export type Patient = Schemas['Patient'];
export type PatientInput = Schemas['PatientWriteRequest'];
export type PatientPatch = Schemas['PatchedPatientWriteRequest'];
export type PaginatedPatients = Schemas['PaginatedPatientList'];
export type HighestRisk = Schemas['HighestRisk'];

export type AnatomicSite = Schemas['AnatomicSiteEnum'];
export type Lesion = Schemas['Lesion'];
export type LesionInput = Schemas['LesionWriteRequest'];
export type ImageKind = Schemas['KindEnum'];
export type UploadImageType = Schemas['UploadImageTypeEnum'];
export type StoredImage = Schemas['Image'];
export type ImageUploadResponse = Schemas['ImageUploadResponse'];
export type Diagnosis = Schemas['DiagnosisEnum'];
export type BenignMalignant = Schemas['BenignMalignantEnum'];
export type Outcome = Schemas['Outcome'];
export type OutcomeInput = Schemas['OutcomeWriteRequest'];
export type HistoryLesion = Schemas['HistoryLesion'];
export type PatientHistory = Schemas['History'];

export type ModelVersionBrief = Schemas['ModelVersionBrief'];
export type ModelVersion = Schemas['ModelVersion'];
export type OperatingPoint = Schemas['OperatingPoint'];
export type Measured = Schemas['Measured'];
export type PredictionStatus = Schemas['PredictionStatusEnum'];
export type RiskCategory = Schemas['RiskCategoryEnum'];
export type Prediction = Schemas['Prediction'];

export type BatchStatus = Schemas['BatchStatusEnum'];
export type Batch = Schemas['Batch'];
export type PaginatedBatches = Schemas['PaginatedBatchList'];
export type BatchResult = Schemas['BatchResult'];
export type PaginatedBatchResults = Schemas['PaginatedBatchResultList'];

export type Health = Schemas['Health'];

export type WorklistItem = Schemas['WorklistItem'];
export type PaginatedWorklist = Schemas['PaginatedWorklistItemList'];
export type WorklistCounts = Schemas['WorklistCounts'];
/** The worklist's queues: the counts endpoint returns one count per queue, so its keys are the queue names. */
export type WorklistFilter = keyof WorklistCounts;
/** The worklist's orders: the `sort` parameter of the worklist's list. */
export type WorklistSort = NonNullable<NonNullable<operations['worklist_list']['parameters']['query']>['sort']>;
export type WorklistLesion = Schemas['WorklistLesion'];
export type WorklistPatient = Schemas['WorklistPatient'];

export type Comparison = Schemas['Comparison'];
export type Visit = Schemas['Visit'];

export type Review = Schemas['Review'];
export type ReviewList = Schemas['ReviewList'];
export type ReviewInput = Schemas['ReviewWriteRequest'];
export type ReviewState = Schemas['ReviewStateEnum'];
export type Assessment = Schemas['AssessmentEnum'];
export type Management = Schemas['ManagementEnum'];
export type ReadKind = Schemas['ReadKindEnum'];
