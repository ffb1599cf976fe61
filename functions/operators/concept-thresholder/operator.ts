/**
 * Concept thresholder: keeps the upstream concepts whose value passes the threshold set for
 * that concept, under one comparison for all of them. Concepts with no threshold are dropped.
 * The thresholds are either listed in `output_info.data.concepts`, or, with
 * `model_metadata.calibrated_from` (a Percept extension), read at run time from the
 * calibrated thresholds of an embedding-classifier version.
 */
import { calibratedThresholdsOf } from '#commons/storage/model-versions.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import { ParamReader, invalidParameter, metadataField } from '../shared/params.ts';
import {
  type ConceptThresholds,
  THRESHOLD_TYPES,
  type ThresholdType,
  filterConcepts,
  readConceptThresholds,
} from '../shared/thresholds.ts';
import { ranUpstream } from '../shared/upstream.ts';

const CALIBRATED_FROM = 'calibrated_from';

// A calibrated threshold predicts a concept when its score is greater than or equal to it.
const CALIBRATED_TYPE: ThresholdType = 'GREATER_THAN_OR_EQUAL';

/** Thresholds listed with the model, or the classifier version to read them from at run time. */
export type ConceptThresholderParams =
  | ({ source: 'listed' } & ConceptThresholds)
  | { source: 'calibrated'; modelId: string; versionId?: string };

export const conceptThresholder: Operator<ConceptThresholderParams> = {
  typeId: 'concept-thresholder',
  description:
    'Keeps the concepts whose value passes the threshold set for each concept (>, >=, =, <= or <), or the calibrated thresholds of a trained embedding-classifier version.',
  inputKinds: ['concepts'],
  outputKind: 'concepts',

  validateParams(raw) {
    const params = new ParamReader('concept-thresholder', raw);
    // Only a model that sets calibrated_from reads it, so the parameters listed in the
    // unknown-key error of a model with listed thresholds stay the Clarifai ones.
    const metadata: unknown = raw.model_metadata;
    const calibratedFromValue =
      typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[CALIBRATED_FROM] : undefined;
    const calibratedFromSet = calibratedFromValue !== undefined && calibratedFromValue !== null;
    if (!calibratedFromSet) {
      const thresholds = readConceptThresholds(params);
      params.rejectUnknownKeys();
      return { source: 'listed', ...thresholds };
    }
    const calibratedFrom = params.object(
      CALIBRATED_FROM,
      'the embedding classifier whose calibrated thresholds to use, e.g. {"model_id": "photos"}',
    ) as Record<string, unknown>;
    const source = readCalibratedFrom(params, calibratedFrom);
    params.rejectUnknownKeys();
    return source;
  },

  async run(event, params) {
    const concepts = ranUpstream(event).flatMap((output) => output.data.concepts ?? []);
    const thresholds = params.source === 'listed' ? params : await calibratedThresholds(event.input.app_id, params);
    return outputOf(event, { data: { concepts: filterConcepts(concepts, thresholds) } });
  },
};

/**
 * Reads `calibrated_from`: `model_id` is required and `version_id` optional. With it, the
 * concept list must be empty and the comparison, when given, must be GREATER_THAN_OR_EQUAL.
 */
function readCalibratedFrom(params: ParamReader, calibratedFrom: Record<string, unknown>): ConceptThresholderParams {
  const field = (key: string): string => `${metadataField(CALIBRATED_FROM)}.${key}`;
  const { model_id: modelId, version_id: versionId, ...unknown } = calibratedFrom;
  const [unknownKey] = Object.keys(unknown);
  if (unknownKey !== undefined) {
    throw params.error(CALIBRATED_FROM, calibratedFrom, `It has no field "${unknownKey}". Its fields are model_id and version_id.`);
  }
  if (typeof modelId !== 'string' || modelId === '') {
    throw invalidParameter(params.typeId, field('model_id'), modelId, 'Set it to the id of a trained embedding-classifier model.');
  }
  if (versionId !== undefined && (typeof versionId !== 'string' || versionId === '')) {
    throw invalidParameter(params.typeId, field('version_id'), versionId, "Set it to a version id of that model, or leave it out to use the model's newest trained version.");
  }

  const type = params.enumValue('concept_threshold_type', CALIBRATED_TYPE, THRESHOLD_TYPES, { 0: CALIBRATED_TYPE });
  if (type !== CALIBRATED_TYPE) {
    throw params.error(
      'concept_threshold_type',
      params.raw('concept_threshold_type'),
      `Calibrated thresholds keep a concept whose value is greater than or equal to them, so use GREATER_THAN_OR_EQUAL (${THRESHOLD_TYPES[CALIBRATED_TYPE]}) or leave it out.`,
    );
  }
  const concepts = params.conceptList({ use: 'ignored', meaning: 'unused with calibrated_from' });
  if (concepts.length > 0) {
    throw params.conceptsError(
      `With ${metadataField(CALIBRATED_FROM)} the thresholds come from the classifier version, so leave output_info.data.concepts empty.`,
    );
  }
  return { source: 'calibrated', modelId, ...(typeof versionId === 'string' ? { versionId } : {}) };
}

async function calibratedThresholds(
  appId: string,
  params: { modelId: string; versionId?: string },
): Promise<ConceptThresholds> {
  const { thresholds } = await calibratedThresholdsOf(appId, params.modelId, params.versionId);
  return {
    type: CALIBRATED_TYPE,
    byConceptId: Object.fromEntries(thresholds.map((threshold) => [threshold.concept_id, threshold.threshold])),
  };
}
