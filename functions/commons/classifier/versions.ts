/**
 * Training a version of an embedding classifier from the app's labelled inputs, and loading
 * a trained version to predict with.
 */
import { randomUUID } from 'node:crypto';
import type { Concept, OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import { DEFAULT_FOLDS, crossValidate } from '#commons/classifier/metrics.ts';
import {
  TrainingStatus,
  TrainingStatusCode,
  embeddingModelIdOf,
  invalidEmbeddingModel,
} from '#commons/classifier/model-type.ts';
import { type TrainingExample, l2Normalize, scoreWith, trainScorers } from '#commons/classifier/train.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import type { RunnableModel } from '#commons/models/app-models.ts';
import { resolveEmbeddingModel, warnIfEmbedderChanged } from '#commons/models/embedders.ts';
import { applyOutputConfig, resolveOutputConfig } from '#commons/models/output-config.ts';
import { listAnnotations } from '#commons/storage/annotations.ts';
import { getImageBytes } from '#commons/storage/images.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';
import { INPUT_SK_PREFIX, appPk } from '#commons/storage/keys.ts';
import { type ModelVersionRecord, putModelVersion, trainedVersion } from '#commons/storage/model-versions.ts';
import type { ModelRecord } from '#commons/storage/models.ts';
import { queryByPrefix } from '#commons/storage/query.ts';

// Inputs whose embedding is read or computed at the same time.
const EMBEDDING_CONCURRENCY = 8;

export const MAX_TRAINING_INPUTS_ENV = 'TRAINING_MAX_INPUTS';

// Training runs inside the API request, which has 30 s. Fitting and 5-fold cross-validation of
// 3 concepts on 2,000 inputs took 2.5 s, and on 5,000 inputs 5.8 s (2-core AMD EPYC, Node 24),
// and the time grows linearly with the number of concepts. At 2,000 inputs, 20 concepts take
// an estimated 17 s, which leaves the rest of the 30 s for reading annotations and computing
// missing embeddings. NOTE: those reads and embeddings were not measured at this size.
export const DEFAULT_MAX_TRAINING_INPUTS = 2_000;

/**
 * Returns the maximum number of labelled inputs that one training request takes, from
 * `TRAINING_MAX_INPUTS` or the default. Throws an `Error` naming the variable when it is set
 * to anything but a positive whole number.
 */
export function maxTrainingInputs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MAX_TRAINING_INPUTS_ENV]?.trim() ?? '';
  if (raw === '') {
    return DEFAULT_MAX_TRAINING_INPUTS;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value === 0) {
    throw new Error(
      `Environment variable ${MAX_TRAINING_INPUTS_ENV} must be a positive whole number of inputs, got ${JSON.stringify(raw)}. Unset it to use the default of ${DEFAULT_MAX_TRAINING_INPUTS}.`,
    );
  }
  return value;
}

/** Resolves the embedding model of a classifier. Throws a 400 naming the model when it is missing or not a visual-embedder. */
export async function resolveEmbedder(appId: string, record: ModelRecord): Promise<RunnableModel> {
  const embeddingModelId = embeddingModelIdOf(record.params);
  return resolveEmbeddingModel(
    appId,
    embeddingModelId,
    `Model ${record.id} embeds images with ${JSON.stringify(embeddingModelId)}`,
    invalidEmbeddingModel,
  );
}

/**
 * Trains a new version of `record` and stores it. Every outcome is stored: the version
 * passes through queued (21103) and training (21101) and ends trained (21100), or failed
 * with MODEL_TRAINING_NO_DATA (21110), MODEL_TRAINING_NO_POSITIVES (21111) or
 * MODEL_TRAINING_FAILED (21106), which includes more labelled inputs than `maxTrainingInputs`.
 * `targetPrecision` is the precision that the calibrated thresholds aim for. Returns the final record.
 */
export async function trainModelVersion(
  appId: string,
  record: ModelRecord,
  targetPrecision?: number,
): Promise<ModelVersionRecord> {
  const embedder = await resolveEmbedder(appId, record);
  const now = new Date().toISOString();
  const version: ModelVersionRecord = {
    app_id: appId,
    model_id: record.id,
    id: randomUUID().replaceAll('-', ''),
    status: TrainingStatus.queued(),
    embedding_model: { id: embedder.manifest.id, version_id: embedder.versionId },
    concepts: record.params.concepts.map((concept) => ({ id: concept.id, name: concept.name })),
    scorers: [],
    counts: { inputs: 0, computed_embeddings: 0 },
    ...(targetPrecision === undefined ? {} : { target_precision: targetPrecision }),
    created_at: now,
    modified_at: now,
  };
  await putModelVersion(version);
  logger.info('model training queued', { appId, modelId: record.id, versionId: version.id });

  const finished = await fitVersion(appId, version, embedder).catch((error: unknown) => {
    logger.error('model training failed', { appId, modelId: record.id, versionId: version.id, error });
    return { ...version, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', (error as Error).message) };
  });
  const stored = { ...finished, modified_at: new Date().toISOString() };
  await putModelVersion(stored);
  logger.info('model training finished', { appId, modelId: record.id, versionId: version.id, status: stored.status.code });
  return stored;
}

async function fitVersion(appId: string, version: ModelVersionRecord, embedder: RunnableModel): Promise<ModelVersionRecord> {
  const conceptIds = version.concepts.map((concept) => concept.id);
  const inputs = await listLabelledInputs(appId, conceptIds);
  if (inputs.length === 0) {
    return {
      ...version,
      status: TrainingStatus.failed(
        'MODEL_TRAINING_NO_DATA',
        `No input of app ${JSON.stringify(appId)} is labelled with a concept of model ${version.model_id} (${conceptIds.join(', ')}). Label inputs with PATCH /v2/inputs, then train again.`,
      ),
    };
  }
  const limit = maxTrainingInputs();
  if (inputs.length > limit) {
    return {
      ...version,
      counts: { inputs: inputs.length, computed_embeddings: 0 },
      status: TrainingStatus.failed(
        'MODEL_TRAINING_FAILED',
        `Model ${version.model_id} has ${inputs.length} labelled inputs, more than the ${limit} that one training request takes, because training runs inside the 30 s API request. Remove labels from some inputs (PATCH /v2/inputs), or raise ${MAX_TRAINING_INPUTS_ENV} on the API function if training still fits in the time, then train again.`,
      ),
    };
  }
  const withoutPositives = conceptIds.filter(
    (conceptId) => !inputs.some((input) => input.concepts?.some((concept) => concept.id === conceptId && concept.value === 1)),
  );
  if (withoutPositives.length > 0) {
    return {
      ...version,
      counts: { inputs: inputs.length, computed_embeddings: 0 },
      status: TrainingStatus.failed(
        'MODEL_TRAINING_NO_POSITIVES',
        `Concepts ${withoutPositives.map((id) => JSON.stringify(id)).join(', ')} of model ${version.model_id} have no positive example. Label at least one input with value 1 for each, then train again.`,
      ),
    };
  }

  await putModelVersion({ ...version, status: TrainingStatus.training(), modified_at: new Date().toISOString() });
  const { vectors, computed } = await embeddingsOf(appId, inputs, embedder);
  const examples: TrainingExample[] = inputs.map((input, index) => ({
    vector: l2Normalize(vectors[index] ?? []),
    positives: new Set(input.concepts?.filter((concept) => concept.value === 1).map((concept) => concept.id)),
    negatives: new Set(input.concepts?.filter((concept) => concept.value === 0).map((concept) => concept.id)),
  }));
  const scorers = trainScorers(conceptIds, examples);
  const metrics = crossValidate(conceptIds, examples, DEFAULT_FOLDS, {}, version.target_precision);
  return {
    ...version,
    status: TrainingStatus.trained(),
    scorers,
    counts: { inputs: inputs.length, computed_embeddings: computed },
    ...(metrics === undefined ? {} : { metrics }),
  };
}

/** Lists the inputs labelled (value 1 or 0) with any of the concepts, leaving out inputs whose image failed. */
async function listLabelledInputs(appId: string, conceptIds: readonly string[]): Promise<InputRecord[]> {
  const modelConcepts = new Set(conceptIds);
  const items = (await queryByPrefix(appPk(appId), INPUT_SK_PREFIX)) as unknown as InputRecord[];
  return items.filter(
    (input) =>
      input.status.code !== StatusCode.INPUT_DOWNLOAD_FAILED && (input.concepts ?? []).some((concept) => modelConcepts.has(concept.id)),
  );
}

/**
 * Returns each input's embedding: the vector of its annotation by the embedding model at the
 * same version when there is one (the default workflow writes one for general-image-embedding),
 * or else one computed now from the image in S3.
 */
async function embeddingsOf(
  appId: string,
  inputs: readonly InputRecord[],
  embedder: RunnableModel,
): Promise<{ vectors: number[][]; computed: number }> {
  const vectors: number[][] = [];
  let computed = 0;
  const limits = imageLimitsFromEnv();
  for (let start = 0; start < inputs.length; start += EMBEDDING_CONCURRENCY) {
    const batch = inputs.slice(start, start + EMBEDDING_CONCURRENCY);
    const stored = await Promise.all(batch.map((input) => storedEmbedding(appId, input.id, embedder)));
    const missing = batch.filter((_, index) => stored[index] === undefined);
    const images = await Promise.all(
      missing.map(async (input) => decodeImage(await getImageBytes(input.image, limits.maxBytes), limits)),
    );
    const fresh = images.length === 0 ? [] : (await embedder.predict(images)).map(firstVector);
    computed += fresh.length;
    let freshIndex = 0;
    for (const vector of stored) {
      vectors.push(vector ?? (fresh[freshIndex++] as number[]));
    }
  }
  return { vectors, computed };
}

async function storedEmbedding(appId: string, inputId: string, embedder: RunnableModel): Promise<number[] | undefined> {
  const annotations = await listAnnotations(appId, inputId);
  const match = annotations.find(
    (annotation) =>
      annotation.worker.model.id === embedder.manifest.id &&
      annotation.worker.model.model_version.id === embedder.versionId &&
      (annotation.data.embeddings?.length ?? 0) > 0,
  );
  return match?.data.embeddings?.[0]?.vector;
}

function firstVector(data: OutputData): number[] {
  const vector = data.embeddings?.[0]?.vector;
  if (vector === undefined) {
    throw new Error('The embedding model returned no embedding for an image.');
  }
  return vector;
}

/**
 * Returns an embedding classifier ready to predict with a trained version. The manifest is
 * the embedding model's with the classifier's id, concepts and `visual-classifier` type,
 * which is the model function that runs it as a workflow node.
 */
export async function resolveClassifierModel(appId: string, record: ModelRecord, versionId?: string): Promise<RunnableModel> {
  const version = await trainedVersion(appId, record.id, versionId);
  const embedder = await resolveEmbedder(appId, record);
  // NOTE: the weights may not fit vectors of another embedder version, so a new version should be trained.
  warnIfEmbedderChanged('embedding model changed since training', record.id, version, embedder);
  const manifest = {
    ...embedder.manifest,
    id: record.id,
    name: record.name,
    description: record.description,
    model_type_id: 'visual-classifier' as const,
    created_at: record.created_at,
    concepts: version.concepts,
  };
  return {
    manifest,
    versionId: version.id,
    record,
    async predict(images: readonly DecodedImage[], outputConfig?: OutputConfig): Promise<OutputData[]> {
      const filter = resolveOutputConfig(manifest, outputConfig);
      const embeddings = await embedder.predict(images);
      return embeddings.map((data) => {
        const vector = l2Normalize(firstVector(data));
        const concepts: Concept[] = version.scorers
          .map((scorer, index) => ({
            id: scorer.conceptId,
            name: version.concepts[index]?.name ?? scorer.conceptId,
            value: scoreWith(scorer, vector),
            app_id: appId,
          }))
          .sort((a, b) => b.value - a.value);
        return applyOutputConfig({ concepts }, filter);
      });
    },
  };
}

/** Returns the error for training or listing versions of a model of another type. */
export function notAClassifier(record: ModelRecord): InvalidInputError {
  return new InvalidInputError(
    'MODEL_NOT_TRAINABLE',
    `Model ${record.id} has type ${record.model_type_id}, which has no trained versions. Only embedding-classifier models are trained with POST /v2/models/{model_id}/versions.`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}
