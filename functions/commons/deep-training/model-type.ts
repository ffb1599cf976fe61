/**
 * Deep-trained models: a `visual-classifier` or `visual-detector` created from a deep-training
 * template instead of an uploaded ONNX file. Its record stores the template's resolved
 * hyperparameters in `train_info.params`; its versions are trained by SageMaker training jobs.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { ModelRecord } from '#commons/storage/models.ts';
import {
  type DeepTrainableType,
  type DeepTrainingParams,
  DEEP_TRAINABLE_TYPES,
  DEEP_TRAINING_TEMPLATES,
  findTemplate,
  resolveTrainingParams,
} from '#commons/deep-training/params.ts';

/** A model record of a deep-trained model. */
export interface DeepModelRecord extends ModelRecord {
  train_info: { params: DeepTrainingParams };
}

/**
 * Minimum number of concepts of a deep-trained model: a classifier separates at least two,
 * and a detector may find a single kind of object.
 */
const MIN_CONCEPTS: Record<DeepTrainableType, number> = { 'visual-classifier': 2, 'visual-detector': 1 };

export function isDeepModel(record: ModelRecord | undefined): record is DeepModelRecord {
  return record !== undefined && (record as Partial<DeepModelRecord>).train_info?.params?.template !== undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns whether a `POST /v2/models` body requests a deep-trained model: it has
 * `model.train_info` and no ONNX file in `model.model_version.onnx`.
 */
export function isDeepTrainingRequest(body: unknown): boolean {
  const model = (body as { model?: unknown } | null)?.model;
  if (!isObject(model) || model.train_info === undefined) {
    return false;
  }
  const version = model.model_version;
  return !(isObject(version) && version.onnx !== undefined);
}

/**
 * Returns `record` (checked by `prepareNewModel`) with the resolved hyperparameters of
 * `model.train_info.params`. Throws a 400 for a model type that deep training cannot
 * produce, a template of another model type, too few concepts (two for a classifier, one for
 * a detector), or invalid parameters.
 */
export function prepareDeepModel(record: ModelRecord, body: unknown): DeepModelRecord {
  const trainInfo = (body as { model?: { train_info?: unknown } }).model?.train_info;
  if (!(DEEP_TRAINABLE_TYPES as readonly string[]).includes(record.model_type_id)) {
    throw new InvalidInputError(
      'INVALID_MODEL_TYPE',
      `model.model_type_id ${JSON.stringify(record.model_type_id)} cannot be deep trained. Deep training produces ${DEEP_TRAINABLE_TYPES.join(', ')} models; remove model.train_info to register a model of this type with an ONNX file.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  if (!isObject(trainInfo)) {
    throw new InvalidInputError(
      'INVALID_TRAINING_PARAMETER',
      `model.train_info must be an object with "params", got ${JSON.stringify(trainInfo)}. Send e.g. {"params": {"template": "${DEEP_TRAINING_TEMPLATES[0]?.id}"}}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const params = resolveTrainingParams(trainInfo.params, 'model.train_info.params');
  const template = findTemplate(params.template, 'model.train_info.params.template');
  if (template.model_type_id !== record.model_type_id) {
    throw new InvalidInputError(
      'INVALID_TRAINING_TEMPLATE',
      `Template ${template.id} trains a ${template.model_type_id}, not a ${record.model_type_id}. Choose a template of this model type.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const minConcepts = MIN_CONCEPTS[template.model_type_id];
  if (record.params.concepts.length < minConcepts) {
    throw new InvalidInputError(
      'INVALID_MODEL_PARAMETER',
      `A deep-trained ${record.model_type_id} needs at least ${minConcepts} ${minConcepts === 1 ? 'concept' : 'concepts'} in model.output_info.data.concepts, got ${record.params.concepts.length}. List the concepts it is trained to ${template.model_type_id === 'visual-detector' ? 'find' : 'tell apart'}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const concepts = record.params.concepts.map((concept) => ({ ...concept, name: concept.name ?? concept.id }));
  return { ...record, params: { ...record.params, concepts }, train_info: { params } };
}

