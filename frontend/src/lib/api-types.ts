// The shapes of docs/api.md. `npm run gen:api` writes the OpenAPI-generated src/lib/api-schema.d.ts;
// once the backend publishes its schema these aliases should point at `components['schemas']`.

export type ApiErrorBody = {
  code: string;
  message?: string;
  fields?: Record<string, string[]>;
};

export type Paginated<T> = {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
};

export type Role = 'clinician' | 'clinic_admin';

export type Me = {
  id: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  is_superuser: boolean;
  clinic: { id: number; name: string } | null;
  role: Role | null;
};

export type Sex = 'female' | 'male' | 'other' | 'unknown';
export type RiskCategory = 'refer' | 'routine';
/** The schema sends "" rather than null for a prediction without a category yet. */
export type MaybeRiskCategory = RiskCategory | '' | null;

export type HighestRisk = {
  probability: number;
  risk_category: RiskCategory;
  model_version_id: number;
};

export type PatientListItem = {
  id: number;
  mrn: string;
  name: string;
  sex: Sex;
  birth_year: number | null;
  age: number | null;
  last_visit: string | null;
  lesion_count: number;
  highest_risk: HighestRisk | null;
};

export type Patient = PatientListItem & {
  notes: string;
  created_at: string;
  updated_at: string;
};

export type PatientInput = {
  mrn: string;
  name: string;
  sex: Sex;
  birth_year: number | null;
  notes: string;
};

export const ANATOMIC_SITES = [
  'head/neck',
  'upper extremity',
  'lower extremity',
  'torso',
  'palms/soles',
  'oral/genital',
  'unknown',
] as const;
export type AnatomicSite = (typeof ANATOMIC_SITES)[number];

export const DIAGNOSES = [
  'melanoma',
  'nevus',
  'seborrheic keratosis',
  'pigmented benign keratosis',
  'lentigo NOS',
  'lichenoid keratosis',
  'solar lentigo',
  'cafe-au-lait macule',
  'atypical melanocytic proliferation',
  'basal cell carcinoma',
  'squamous cell carcinoma',
  'actinic keratosis',
  'dermatofibroma',
  'vascular lesion',
  'unknown',
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];

export type Lesion = {
  id: number;
  anatomic_site: AnatomicSite;
  label: string;
  created_at: string;
};

export type ModelVersionBrief = {
  id: number;
  name: string;
  version: string;
  is_demo: boolean;
};

export type PredictionStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export type Prediction = {
  id: number;
  image_id: number;
  status: PredictionStatus;
  melanoma_probability: number | null;
  raw_score: number | null;
  class_probabilities: Record<string, number> | null;
  risk_category: MaybeRiskCategory;
  threshold: number | null;
  model_version: ModelVersionBrief;
  heatmap_url: string | null;
  error: string | null;
  attempts: number;
  timings: { queue_ms: number; decode_ms: number; inference_ms: number } | null;
  created_at: string;
  finished_at: string | null;
};

export type ImageKind = 'dermoscopic' | 'clinical';

export type HistoryImage = {
  id: number;
  kind: ImageKind;
  captured_at: string | null;
  uploaded_at: string;
  width: number;
  height: number;
  file_url: string;
  thumbnail_url: string;
  predictions: Prediction[];
};

export type Outcome = {
  id: number;
  diagnosis: Diagnosis;
  benign_malignant: 'benign' | 'malignant';
  date: string;
  notes: string;
};

export type OutcomeInput = Omit<Outcome, 'id'>;

export type HistoryLesion = Lesion & {
  images: HistoryImage[];
  outcomes: Outcome[];
};

export type PatientHistory = {
  patient: Patient;
  lesions: HistoryLesion[];
};

export type BatchStatus = 'running' | 'done' | 'cancelled';

export type Batch = {
  id: number;
  name: string;
  status: BatchStatus;
  total: number;
  done: number;
  failed: number;
  queued: number;
  running: number;
  cancelled?: number;
  rate_per_min: number | null;
  eta_seconds: number | null;
  created_at: string;
  finished_at: string | null;
  model_version: ModelVersionBrief;
};

export type BatchResult = {
  image_id: number | null;
  file_name: string;
  thumbnail_url: string | null;
  patient_id: number | null;
  status: PredictionStatus;
  melanoma_probability: number | null;
  risk_category: MaybeRiskCategory;
  error: string | null;
};

export type ModelVersion = {
  id: number;
  name: string;
  version: string;
  arch: string;
  img_size: number;
  class_names: string[];
  threshold: number;
  calibration: Record<string, unknown> | null;
  metrics: Record<string, unknown>;
  plots: Record<string, string>;
  is_active: boolean;
  is_demo: boolean;
  sha256: string;
  created_at: string;
  activated_at: string | null;
};

export type Health = {
  database: 'ok' | 'error';
  broker: 'ok' | 'error';
  model: ModelVersionBrief | null;
};
