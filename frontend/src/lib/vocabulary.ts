import type {
  AnatomicSite,
  Assessment,
  Diagnosis,
  Management,
  PredictionStatus,
  ReadKind,
  ReviewState,
  RiskCategory,
  UploadImageType,
  WorklistFilter,
  WorklistSort,
} from './api-types';

/**
 * Every value of a generated string enum, as a run-time list in display order. A list that misses a value
 * does not compile (the error names it), so a choice the backend adds cannot silently go missing from a form.
 */
const enumValues =
  <T extends string>() =>
  <const A extends readonly T[]>(values: A & ([Exclude<T, A[number]>] extends [never] ? unknown : { missing: Exclude<T, A[number]> })) =>
    values as A;

export const ANATOMIC_SITES = enumValues<AnatomicSite>()([
  'head/neck',
  'upper extremity',
  'lower extremity',
  'torso',
  'palms/soles',
  'oral/genital',
  'unknown',
]);

/** What the server stores (portal/records/vocabulary.py::UploadImageType): every file picker's `accept`. */
export const UPLOAD_IMAGE_TYPES = enumValues<UploadImageType>()(['image/jpeg', 'image/png']);

export const DIAGNOSES = enumValues<Diagnosis>()([
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
]);

export const STATUS_LABELS: Record<PredictionStatus, string> = {
  queued: 'Queued',
  running: 'Analysing…',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

// A batch result's status and risk and a patient's highest risk are plain strings in the schema (serializer
// CharFields), so they are checked before they pick a label or a colour.
export const isPredictionStatus = (value: string): value is PredictionStatus => Object.hasOwn(STATUS_LABELS, value);
export const isRiskCategory = (value: string | null): value is RiskCategory => value === 'refer' || value === 'routine';

/** The worklist's queues in the order the filter shows them; a queue the backend adds must get a label here. */
export const WORKLIST_FILTERS: Record<WorklistFilter, { label: string; empty: string }> = {
  unreviewed: { label: 'Unreviewed', empty: 'Every analysed lesion has been reviewed.' },
  refer: { label: 'Refer', empty: 'No unreviewed lesion above its model’s referral threshold is waiting.' },
  awaiting_second_read: { label: 'Second read', empty: 'No signed review waits for a second reader.' },
  disagreement: { label: 'Disagreement', empty: 'No readers disagree on a lesion.' },
  follow_up_due: { label: 'Follow-up due', empty: 'No follow-up is due.' },
  awaiting_biopsy: {
    label: 'Awaiting biopsy',
    empty: 'No lesion decided for excision, biopsy or urgent referral waits for its outcome.',
  },
};

export const ASSESSMENTS: Record<Assessment, string> = { benign: 'Benign', suspicious: 'Suspicious', malignant: 'Malignant' };
export const MANAGEMENTS: Record<Management, string> = {
  discharge: 'Discharge',
  routine_follow_up: 'Routine follow-up',
  short_term_monitoring: 'Short-term monitoring',
  excise: 'Excise / biopsy',
  urgent_referral: 'Urgent referral',
};
/** The decisions that need a follow-up date (triage/models.py::FOLLOW_UP_KINDS). */
export const FOLLOW_UP_MANAGEMENTS: ReadonlySet<Management> = new Set(['routine_follow_up', 'short_term_monitoring']);
export const READ_KINDS: Record<ReadKind, string> = {
  first: 'First read',
  second: 'Second read',
  third: 'Third read',
  consensus: 'Consensus',
};
export const REVIEW_STATES: Record<ReviewState, string> = {
  unreviewed: 'Not reviewed yet',
  awaiting_second_read: 'Awaiting a second read',
  disagreement: 'Readers disagree: a third read or a consensus note resolves it',
  resolved: 'Disagreement resolved',
  complete: 'Review complete',
};
export const isWorklistFilter = (value: string | null): value is WorklistFilter =>
  value !== null && Object.hasOwn(WORKLIST_FILTERS, value);

/** The worklist's two orders (the API's `sort`). */
export const WORKLIST_SORTS: Record<WorklistSort, { label: string; description: string }> = {
  risk: { label: 'Risk', description: 'Refer first, then probability, then the longest wait.' },
  outlier: {
    label: 'Odd one out',
    description:
      'The lesion that looks least like the same patient’s other lesions first (a within-patient dissimilarity, not a diagnosis); then risk.',
  },
};
export const isWorklistSort = (value: string | null): value is WorklistSort =>
  value !== null && Object.hasOwn(WORKLIST_SORTS, value);
