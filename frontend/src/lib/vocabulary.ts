import type { AnatomicSite, Diagnosis, PredictionStatus, RiskCategory, UploadImageType, WorklistFilter } from './api-types';

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
  refer: { label: 'Refer', empty: 'No lesion above its model’s referral threshold is waiting.' },
};
export const isWorklistFilter = (value: string | null): value is WorklistFilter =>
  value !== null && Object.hasOwn(WORKLIST_FILTERS, value);
