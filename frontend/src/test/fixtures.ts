import type {
  Batch,
  BatchResult,
  HistoryLesion,
  Me,
  ModelVersion,
  ModelVersionBrief,
  Patient,
  PatientHistory,
  Prediction,
  Review,
  StoredImage,
} from '@/lib/api-types';

export const alice: Me = {
  id: 1,
  username: 'alice',
  email: 'alice@clinic-a.test',
  first_name: 'Alice',
  last_name: 'Moreau',
  is_superuser: false,
  clinic: { id: 1, name: 'Clinic A' },
  role: 'clinician',
};

export const admin: Me = { ...alice, id: 9, username: 'admin', first_name: 'Ada', last_name: 'Admin', is_superuser: true, role: 'clinic_admin' };

export const demoModel: ModelVersionBrief = { id: 3, name: 'effnet-lite0', version: '1', is_demo: true };
export const clinicalModel: ModelVersionBrief = { id: 4, name: 'effnet-b3', version: '2', is_demo: false };

export function makePatient(overrides: Partial<Patient> = {}): Patient {
  return {
    id: 7,
    mrn: 'MRN-0007',
    name: 'Jean Dupont',
    sex: 'male',
    birth_year: 1961,
    age: 64,
    last_visit: '2025-11-20T10:00:00Z',
    lesion_count: 2,
    highest_risk: { probability: 0.82, risk_category: 'refer', model_version_id: 3 },
    notes: '',
    created_at: '2025-01-01T09:00:00Z',
    updated_at: '2025-11-20T10:00:00Z',
    ...overrides,
  };
}

export function makePrediction(overrides: Partial<Prediction> = {}): Prediction {
  return {
    id: 100,
    url: '/api/v1/predictions/100/',
    image_id: 10,
    status: 'done',
    melanoma_probability: 0.82,
    model_probability: 0.82,
    image_probability: 0.82,
    metadata_used: null,
    raw_score: 1.5,
    class_probabilities: { melanoma: 0.82, nevus: 0.18 },
    risk_category: 'refer',
    threshold: 0.35,
    operating_point: { scope: 'global', id: null },
    model_version: demoModel,
    heatmap_url: '/api/v1/predictions/100/heatmap/',
    quality: { ok: true, reasons: [], label: null, measures: { sharpness: 40 }, dismissed: false, dismissed_at: null },
    ood_score: 31.5,
    ood_flag: false,
    error: null,
    attempts: 1,
    timings: { queue_ms: 12, decode_ms: 8, inference_ms: 40, quality_ms: 1 },
    created_at: '2025-11-20T10:00:00Z',
    finished_at: '2025-11-20T10:00:01Z',
    ...overrides,
  };
}

export function makeImage(overrides: Partial<StoredImage> = {}): StoredImage {
  const id = overrides.id ?? 10;
  return {
    id,
    lesion_id: 21,
    kind: 'dermoscopic',
    content_type: 'image/jpeg',
    captured_at: '2025-11-20T10:00:00Z',
    uploaded_at: '2025-11-20T10:00:00Z',
    width: 600,
    height: 450,
    sha256: 'c0ffee'.repeat(10) + 'c0ffee01',
    file_url: `/api/v1/images/${id}/file/`,
    thumbnail_url: `/api/v1/images/${id}/thumbnail/`,
    predictions: [makePrediction({ id: id * 10, url: `/api/v1/predictions/${id * 10}/`, image_id: id, heatmap_url: `/api/v1/predictions/${id * 10}/heatmap/` })],
    ...overrides,
  };
}

export function makeHistory(): PatientHistory {
  const back: HistoryLesion = {
    id: 21,
    anatomic_site: 'torso',
    label: 'Upper back, 7 mm',
    created_at: '2025-06-01T09:00:00Z',
    images: [
      makeImage({ id: 11, captured_at: '2025-11-20T10:00:00Z' }),
      makeImage({
        id: 12,
        captured_at: '2025-06-01T09:00:00Z',
        predictions: [
          makePrediction({
            id: 120,
            url: '/api/v1/predictions/120/',
            image_id: 12,
            melanoma_probability: 0.12,
            risk_category: 'routine',
            model_version: clinicalModel,
            heatmap_url: '/api/v1/predictions/120/heatmap/',
          }),
        ],
      }),
    ],
    outcomes: [],
    outlier: null,
  };
  const leg: HistoryLesion = {
    id: 22,
    anatomic_site: 'lower extremity',
    label: 'Left calf',
    created_at: '2025-03-01T09:00:00Z',
    images: [],
    outcomes: [
      {
        id: 5,
        lesion_id: 22,
        diagnosis: 'nevus',
        benign_malignant: 'benign',
        date: '2025-03-10',
        notes: '',
        created_at: '2025-03-10T12:00:00Z',
      },
    ],
    outlier: null,
  };
  return { patient: makePatient(), lesions: [back, leg] };
}

export function makeBatch(overrides: Partial<Batch> = {}): Batch {
  return {
    id: 31,
    name: 'Tuesday clinic',
    status: 'running',
    total: 10,
    done: 4,
    failed: 1,
    queued: 4,
    running: 1,
    cancelled: 0,
    rate_per_min: 12,
    eta_seconds: 25,
    created_at: '2025-11-25T09:00:00Z',
    finished_at: null,
    model_version: demoModel,
    ...overrides,
  };
}

export const batchResults: BatchResult[] = [
  {
    prediction_id: 901,
    image_id: 501,
    file_name: 'ISIC_0000013.jpg',
    thumbnail_url: '/api/v1/images/501/thumbnail/',
    patient_id: 7,
    lesion_id: 21,
    status: 'done',
    melanoma_probability: 0.91,
    risk_category: 'refer',
    heatmap_url: '/api/v1/predictions/901/heatmap/',
    quality_reasons: ['blurred'],
    quality_label: 'quality: retake advised (blurred)',
    quality_dismissed: false,
    error: '',
  },
  {
    prediction_id: 902,
    image_id: 502,
    file_name: 'ISIC_0000001.jpg',
    thumbnail_url: '/api/v1/images/502/thumbnail/',
    patient_id: null,
    lesion_id: null,
    status: 'done',
    melanoma_probability: 0.05,
    risk_category: 'routine',
    heatmap_url: '/api/v1/predictions/902/heatmap/',
    quality_reasons: [],
    quality_label: null,
    quality_dismissed: false,
    error: '',
  },
  {
    // An undecodable file never becomes an image, so it has neither an id nor a thumbnail.
    prediction_id: null,
    image_id: null,
    file_name: 'broken.jpg',
    thumbnail_url: null,
    patient_id: null,
    lesion_id: null,
    status: 'failed',
    melanoma_probability: null,
    risk_category: null,
    heatmap_url: null,
    quality_reasons: [],
    quality_label: null,
    quality_dismissed: false,
    error: 'Not a decodable image',
  },
];

export function makeModel(overrides: Partial<ModelVersion> = {}): ModelVersion {
  return {
    id: 3,
    name: 'effnet-lite0',
    version: '1',
    arch: 'efficientnet_lite0',
    img_size: 224,
    melanoma_index: 1,
    class_names: ['nevus', 'melanoma'],
    threshold: 0.35,
    calibration: { temperature: 1.2 },
    metrics: { test: { auroc: 0.874, sensitivity: 0.9, specificity: 0.61 }, n_test: 120 },
    plots: { roc: '/media/models/3/roc.png', confusion_matrix: '/media/models/3/confusion_matrix.png' },
    is_active: true,
    is_demo: true,
    sha256: 'a3f1c2d4e5b6a7980123456789abcdef0123456789abcdef0123456789abcdef',
    created_at: '2025-11-01T09:00:00Z',
    activated_at: '2025-11-02T09:00:00Z',
    ...overrides,
  };
}

/** A signed, current first read by bob that disagrees with a refer result. */
export function makeReview(overrides: Partial<Review> = {}): Review {
  return {
    id: 70,
    prediction_id: 500,
    kind: 'first',
    reader_id: 2,
    reader_email: 'bob@clinic-a.test',
    assessment: 'benign',
    management: 'discharge',
    follow_up_date: null,
    notes: '',
    agrees_with_model: false,
    model_risk: 'refer',
    needs_second_read: true,
    supersedes: null,
    signed: true,
    signed_at: '2025-11-21T09:00:00Z',
    is_current: true,
    created_at: '2025-11-21T08:59:00Z',
    updated_at: '2025-11-21T09:00:00Z',
    ...overrides,
  };
}
