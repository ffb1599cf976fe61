/**
 * The `clusterer` model type: k-means clusters of an embedding model's vectors, trained from
 * the app's inputs. Its parameters are in `model_metadata`. `embedding_model_id` defaults to
 * `general-image-embedding`, and `iterations` (Lloyd iterations) defaults to 20. `k`, the number
 * of clusters, defaults to 4 × √n for the n vectors at training, at most n and `MAX_CLUSTERS`.
 */
import { DEFAULT_CLUSTER_EMBEDDING_MODEL_ID, MAX_CLUSTERS, MAX_ITERATIONS } from '#commons/cluster/params.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { listModels } from '#commons/models/index.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';

export {
  CLUSTERER_TYPE,
  type ClustererParams,
  DEFAULT_CLUSTER_EMBEDDING_MODEL_ID,
  DEFAULT_ITERATIONS,
  MAX_CLUSTERS,
  MAX_ITERATIONS,
  clusterCount,
  clustererParamsOf,
} from '#commons/cluster/params.ts';

function invalidParameter(field: string, value: unknown, expected: string): InvalidInputError {
  return new InvalidInputError(
    'INVALID_MODEL_PARAMETER',
    `model.output_info.output_config.model_metadata.${field} must be ${expected}, got ${JSON.stringify(value)}.`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}

/**
 * Checks the parameters of a new clusterer and fills in the default embedding model. A
 * built-in embedding model must be a `visual-embedder`. An app model id is checked by
 * `POST /v2/models` with `resolveClusterEmbedder`, because this check runs without the table.
 */
export function prepareClustererParams(params: RawModelParams): RawModelParams {
  if (params.concepts.length > 0) {
    throw new InvalidInputError(
      'INVALID_MODEL_PARAMETER',
      'A clusterer has no concepts: it groups inputs without labels. Leave out model.output_info.data.concepts.',
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const metadata = params.model_metadata;
  const embeddingModelId = metadata.embedding_model_id ?? DEFAULT_CLUSTER_EMBEDDING_MODEL_ID;
  if (typeof embeddingModelId !== 'string' || embeddingModelId === '') {
    throw invalidParameter('embedding_model_id', embeddingModelId, 'a model id such as "general-image-embedding"');
  }
  const builtin = listModels().find((manifest) => manifest.id === embeddingModelId);
  if (builtin !== undefined && builtin.model_type_id !== 'visual-embedder') {
    throw notAnEmbedder(embeddingModelId, builtin.model_type_id);
  }
  const { k, iterations } = metadata;
  if (k !== undefined && (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_CLUSTERS)) {
    throw invalidParameter('k', k, `a whole number of clusters from 1 to ${MAX_CLUSTERS}, or left out to choose 4 × √n for n vectors`);
  }
  if (iterations !== undefined && (typeof iterations !== 'number' || !Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)) {
    throw invalidParameter('iterations', iterations, `a whole number of k-means iterations from 1 to ${MAX_ITERATIONS}`);
  }
  for (const key of Object.keys(metadata)) {
    if (!['embedding_model_id', 'k', 'iterations'].includes(key)) {
      throw new InvalidInputError(
        'INVALID_MODEL_PARAMETER',
        `model.output_info.output_config.model_metadata.${key} is not a clusterer parameter. A clusterer takes embedding_model_id, k and iterations.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
  }
  return { concepts: [], model_metadata: { ...metadata, embedding_model_id: embeddingModelId } };
}

export function notAnEmbedder(modelId: string, modelTypeId: string): InvalidInputError {
  const embedders = listModels()
    .filter((manifest) => manifest.model_type_id === 'visual-embedder')
    .map((manifest) => manifest.id);
  return new InvalidInputError(
    'INVALID_EMBEDDING_MODEL',
    `Model ${JSON.stringify(modelId)} is a ${modelTypeId}, not a visual-embedder, so a clusterer cannot group its outputs. Use a visual-embedder such as ${embedders.join(', ')}.`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}
