/**
 * The `embedding-classifier` model type: concepts scored by linear models trained on the
 * vectors of an embedding model. Its parameters are the concepts and
 * `model_metadata.embedding_model_id`.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { listModels } from '#commons/models/index.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';

export const EMBEDDING_CLASSIFIER_TYPE = 'embedding-classifier';
export const DEFAULT_EMBEDDING_MODEL_ID = 'general-image-embedding';

export { TrainingStatus, TrainingStatusCode, type TrainingFailureCode } from '#commons/classifier/status.ts';

/** Returns the embedding model id of a classifier's parameters, or the default. */
export function embeddingModelIdOf(params: RawModelParams): string {
  const id = params.model_metadata.embedding_model_id;
  return typeof id === 'string' ? id : DEFAULT_EMBEDDING_MODEL_ID;
}

/**
 * Checks the parameters of a new embedding classifier and fills in the default embedding
 * model. A built-in embedding model must be a `visual-embedder`. An id that is not built in
 * is taken to be one of the app's own models and checked when a version is trained, because
 * this check runs without access to the table.
 */
export function prepareClassifierParams(params: RawModelParams): RawModelParams {
  if (params.concepts.length === 0) {
    throw new InvalidInputError(
      'INVALID_MODEL_PARAMETER',
      'An embedding-classifier needs at least one concept. Send them in model.output_info.data.concepts, e.g. [{"id": "cat"}].',
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const id = params.model_metadata.embedding_model_id ?? DEFAULT_EMBEDDING_MODEL_ID;
  if (typeof id !== 'string' || id === '') {
    throw new InvalidInputError(
      'INVALID_MODEL_PARAMETER',
      `model.output_info.output_config.model_metadata.embedding_model_id must be a model id, got ${JSON.stringify(id)}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const builtin = listModels().find((manifest) => manifest.id === id);
  if (builtin !== undefined && builtin.model_type_id !== 'visual-embedder') {
    throw invalidEmbeddingModel(id, builtin.model_type_id);
  }
  // An app model id is checked asynchronously by POST /v2/models (`resolveEmbedder`).
  const concepts = params.concepts.map((concept) => ({ ...concept, name: concept.name ?? concept.id }));
  return { concepts, model_metadata: { ...params.model_metadata, embedding_model_id: id } };
}

export function invalidEmbeddingModel(modelId: string, modelTypeId: string): InvalidInputError {
  const embedders = listModels()
    .filter((manifest) => manifest.model_type_id === 'visual-embedder')
    .map((manifest) => manifest.id);
  return new InvalidInputError(
    'INVALID_EMBEDDING_MODEL',
    `Model ${JSON.stringify(modelId)} is a ${modelTypeId}, not a visual-embedder, so it cannot feed an embedding-classifier. Use a visual-embedder such as ${embedders.join(', ')}.`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}
