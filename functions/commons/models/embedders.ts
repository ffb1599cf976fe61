/**
 * The embedding model behind a model trained on vectors (an embedding classifier or a
 * clusterer): resolving it for training and prediction, and the check that a trained version
 * still matches it.
 */
import { InvalidInputError, PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { type RunnableModel, resolveRunnableModel } from '#commons/models/app-models.ts';

/**
 * Returns the app's `visual-embedder` `embeddingModelId`. Throws `EMBEDDING_MODEL_NOT_FOUND`
 * when the app has no such predictable model, starting the message with `use` (e.g. `Model
 * pets embeds images with "x"`), and `notAnEmbedder(id, type)` for a model of another type.
 */
export async function resolveEmbeddingModel(
  appId: string,
  embeddingModelId: string,
  use: string,
  notAnEmbedder: (modelId: string, modelTypeId: string) => Error,
): Promise<RunnableModel> {
  let embedder: RunnableModel;
  try {
    embedder = await resolveRunnableModel(appId, embeddingModelId);
  } catch (error) {
    if (error instanceof PerceptError && (error.code === 'MODEL_NOT_FOUND' || error.code === 'MODEL_NOT_PREDICTABLE')) {
      throw new InvalidInputError(
        'EMBEDDING_MODEL_NOT_FOUND',
        `${use}, which is not a visual-embedder of app ${JSON.stringify(appId)}: ${error.message}`,
        StatusCode.MODEL_INVALID_ARGUMENT,
        error,
      );
    }
    throw error;
  }
  if (embedder.manifest.model_type_id !== 'visual-embedder') {
    throw notAnEmbedder(embeddingModelId, embedder.manifest.model_type_id);
  }
  return embedder;
}

/**
 * Logs a warning when the embedder's version is not the one that `version` was trained with,
 * because the trained weights or centroids may not fit the new embedder's vectors.
 */
export function warnIfEmbedderChanged(
  message: string,
  modelId: string,
  version: { id: string; embedding_model: { version_id: string } },
  embedder: RunnableModel,
): void {
  if (embedder.versionId !== version.embedding_model.version_id) {
    logger.warn(message, {
      modelId,
      versionId: version.id,
      trainedWith: version.embedding_model.version_id,
      current: embedder.versionId,
    });
  }
}
