/**
 * The models an app can use: the built-in catalog plus the app's own models in the table.
 * Creates app models (checking their parameters with their type) and resolves the models
 * that workflow nodes name for the compiler.
 */
import type { Concept, ModelTypeId, Status } from '#commons/clarifai/types.ts';
import { EMBEDDING_CLASSIFIER_TYPE, prepareClassifierParams } from '#commons/classifier/model-type.ts';
import { CLUSTERER_TYPE, prepareClustererParams } from '#commons/cluster/model-type.ts';
import { isDeepModel } from '#commons/deep-training/model-type.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ClarifaiModel, toClarifaiModel } from '#commons/models/clarifai-model.ts';
import { getModel, listModels, modelVersionId } from '#commons/models/index.ts';
import { validateId } from '#commons/storage/ids.ts';
import { listVersionItems } from '#commons/storage/model-versions.ts';
import { type ModelRecord, findModel, listAppModels } from '#commons/storage/models.ts';
import type { WorkflowDefinition } from '#commons/workflows/definition.ts';
import {
  ONNX_MODEL_TYPES,
  type ResolvedModel,
  isOnnxModelType,
  operatorVersionId,
  resolveOnnxModel,
  resolveOperatorModel,
} from '#commons/workflows/model-types.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';
import { OPERATOR_TYPE_IDS, isOperatorTypeId } from '#commons/workflows/operator.ts';
import { OPERATORS } from '../operators/index.ts';

/**
 * Handling of one app model type by `POST /v2/models` and by workflows. This is the
 * extension point for new model types. An app's own ONNX models (visual-classifier,
 * visual-detector, visual-embedder with a user-supplied ONNX file) have an entry whose
 * `resolve` describes the stored model, and `attachOnnxModel` handles their file.
 */
interface AppModelType {
  /** Checks the parameters of a new model; returns what to store. Throws InvalidInputError naming the field. */
  prepare(params: RawModelParams): RawModelParams;
  /** Describes a stored model for the workflow compiler. */
  resolve(record: ModelRecord): ResolvedModel;
}

function operatorType(typeId: (typeof OPERATOR_TYPE_IDS)[number]): AppModelType {
  const operator = OPERATORS[typeId];
  return {
    prepare(params) {
      operator.validateParams(params);
      return params;
    },
    resolve(record) {
      return resolveOperatorModel(record.id, operator, record.params, record.version_id);
    },
  };
}

// The ONNX file of these types is checked and stored by `attachOnnxModel`, which needs
// the request body and runs after `prepare`.
function onnxType(typeId: ModelTypeId): AppModelType {
  return {
    prepare: (params) => params,
    resolve: (record) => resolveOnnxModel(record.id, typeId, record.version_id),
  };
}

// Runs as a node of kind concepts in the visual-classifier function, which loads the newest
// trained version through `resolveRunnableModel`.
const embeddingClassifierType: AppModelType = {
  prepare: prepareClassifierParams,
  resolve: (record) => ({
    ...resolveOnnxModel(record.id, 'visual-classifier', record.version_id),
    model_type_id: EMBEDDING_CLASSIFIER_TYPE,
    params: record.params,
  }),
};

// Predicts through `resolveRunnableModel` only; no model function runs it as a workflow node,
// so `resolveWorkflowModels` rejects it before `resolve` is called.
const clustererType: AppModelType = {
  prepare: prepareClustererParams,
  resolve: (record) => {
    throw new InvalidInputError(
      'INVALID_MODEL_TYPE',
      `Model ${record.id} is a clusterer, which cannot run as a workflow node. Predict its clusters with POST /v2/models/${record.id}/outputs.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  },
};

const APP_MODEL_TYPES: Readonly<Record<string, AppModelType>> = {
  [EMBEDDING_CLASSIFIER_TYPE]: embeddingClassifierType,
  [CLUSTERER_TYPE]: clustererType,
  ...Object.fromEntries(OPERATOR_TYPE_IDS.map((typeId) => [typeId, operatorType(typeId)])),
  ...Object.fromEntries(
    (Object.keys(ONNX_MODEL_TYPES) as ModelTypeId[]).map((typeId) => [typeId, onnxType(typeId)]),
  ),
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBuiltinModel(modelId: string): boolean {
  return listModels().some((manifest) => manifest.id === modelId);
}

/**
 * Reads the `model` of a `POST /v2/models` body into a record to store. Parameters come from
 * `output_info.data.concepts`, `output_info.output_config.model_metadata` and Clarifai's
 * `output_info.params`, which is merged into `model_metadata` (a key in both is rejected).
 */
export function prepareNewModel(appId: string, body: unknown): ModelRecord {
  const model = (body as { model?: unknown } | null)?.model;
  if (!isObject(model)) {
    throw new InvalidInputError(
      'MODEL_MISSING',
      'The request has no model. Send {"model": {"id": "...", "model_type_id": "...", "output_info": {...}}}.',
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const id = validateId(model.id, 'model.id');
  if (isBuiltinModel(id)) {
    throw new InvalidInputError(
      'MODEL_ALREADY_EXISTS',
      `Model id ${JSON.stringify(id)} is a built-in model. Choose another id.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const typeId = model.model_type_id;
  if (typeof typeId !== 'string' || !Object.hasOwn(APP_MODEL_TYPES, typeId)) {
    throw new InvalidInputError(
      'INVALID_MODEL_TYPE',
      `model.model_type_id ${JSON.stringify(typeId)} is not a model type Percept knows. Use one of ${Object.keys(APP_MODEL_TYPES).join(', ')}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  for (const field of ['name', 'description'] as const) {
    if (model[field] !== undefined && typeof model[field] !== 'string') {
      throw new InvalidInputError(
        'INVALID_MODEL',
        `model.${field} must be a string, got ${JSON.stringify(model[field])}.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
  }

  const params = (APP_MODEL_TYPES[typeId] as AppModelType).prepare(readRawParams(model.output_info));
  const now = new Date().toISOString();
  return {
    app_id: appId,
    id,
    name: typeof model.name === 'string' && model.name !== '' ? model.name : id,
    description: typeof model.description === 'string' ? model.description : '',
    model_type_id: typeId,
    params,
    version_id: operatorVersionId(typeId, params),
    created_at: now,
    modified_at: now,
  };
}

function readRawParams(outputInfo: unknown): RawModelParams {
  if (outputInfo === undefined) {
    return { concepts: [], model_metadata: {} };
  }
  if (!isObject(outputInfo)) {
    throw invalidOutputInfo('model.output_info', outputInfo, 'an object');
  }
  const concepts = (outputInfo.data as { concepts?: unknown } | undefined)?.concepts ?? [];
  if (outputInfo.data !== undefined && !isObject(outputInfo.data)) {
    throw invalidOutputInfo('model.output_info.data', outputInfo.data, 'an object with "concepts"');
  }
  if (!Array.isArray(concepts)) {
    throw invalidOutputInfo('model.output_info.data.concepts', concepts, 'a list of concepts');
  }
  concepts.forEach((concept: unknown, index) => {
    if (!isObject(concept) || typeof concept.id !== 'string' || concept.id === '') {
      throw invalidOutputInfo(`model.output_info.data.concepts[${index}]`, concept, 'a concept with a string "id"');
    }
  });

  const outputConfig = outputInfo.output_config ?? {};
  if (!isObject(outputConfig)) {
    throw invalidOutputInfo('model.output_info.output_config', outputConfig, 'an object');
  }
  const metadata = outputConfig.model_metadata ?? {};
  if (!isObject(metadata)) {
    throw invalidOutputInfo('model.output_info.output_config.model_metadata', metadata, 'an object');
  }
  const clarifaiParams = outputInfo.params ?? {};
  if (!isObject(clarifaiParams)) {
    throw invalidOutputInfo('model.output_info.params', clarifaiParams, 'an object');
  }
  for (const key of Object.keys(clarifaiParams)) {
    if (Object.hasOwn(metadata, key)) {
      throw new InvalidInputError(
        'INVALID_MODEL_PARAMETER',
        `model.output_info.params.${key} and model.output_info.output_config.model_metadata.${key} are both set. Send the parameter once.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
  }
  return { concepts: concepts as Concept[], model_metadata: { ...clarifaiParams, ...metadata } };
}

function invalidOutputInfo(field: string, value: unknown, expected: string): InvalidInputError {
  return new InvalidInputError(
    'INVALID_MODEL_PARAMETER',
    `${field} must be ${expected}, got ${JSON.stringify(value)}.`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}

/** Returns the Clarifai JSON of an app model. */
// Clarifai's status of a model with no trained version.
const MODEL_UNTRAINED = 21102;

/** The version that a model's JSON reports: its id, creation time and training status. */
export interface ReportedVersion {
  id: string;
  created_at: string;
  status: Status;
}

/** Reports whether the model's versions are trained from the app's data, so that a new model has none. */
function isTrainedType(record: ModelRecord): boolean {
  return record.model_type_id === EMBEDDING_CLASSIFIER_TYPE || record.model_type_id === CLUSTERER_TYPE || isDeepModel(record);
}

/**
 * Returns the version that `GET /v2/models` reports for an app model: the newest version of
 * a model trained from the app's data, or "not trained yet" (21102) before its first version.
 * Other app models (operators, uploaded ONNX files) have the one version they were created with.
 */
export async function reportedVersionOf(record: ModelRecord): Promise<ReportedVersion | undefined> {
  if (!isTrainedType(record)) {
    return undefined;
  }
  const [newest] = await listVersionItems<ReportedVersion>(record.app_id, record.id);
  return newest === undefined ? undefined : { id: newest.id, created_at: newest.created_at, status: newest.status };
}

/**
 * Returns the Clarifai JSON of an app model. `version` is the version to report (see
 * `reportedVersionOf`); without it, a model trained from the app's data reports that it has
 * no trained version yet.
 */
export function toClarifaiAppModel(record: ModelRecord, version?: ReportedVersion): ClarifaiModel & Record<string, unknown> {
  const modelVersion =
    version ??
    (isTrainedType(record)
      ? {
          status: {
            code: MODEL_UNTRAINED,
            description: `Model is not trained yet. Train a version with POST /v2/models/${record.id}/versions.`,
          },
        }
      : {
          id: record.version_id,
          created_at: record.created_at,
          status: { code: StatusCode.MODEL_TRAINED, description: 'Model is trained and ready' },
        });
  return {
    id: record.id,
    name: record.name,
    description: record.description,
    created_at: record.created_at,
    app_id: record.app_id,
    model_type_id: record.model_type_id as ModelTypeId,
    output_info: {
      data: { concepts: record.params.concepts.map((concept) => ({ ...concept, app_id: record.app_id })) },
      output_config: { model_metadata: record.params.model_metadata },
    },
    model_version: modelVersion,
    ...(isDeepModel(record) ? { train_info: record.train_info } : {}),
  } as ClarifaiModel & Record<string, unknown>;
}

/** Lists every model the app can use, built-in models first, each group in id order. */
export async function listAllModels(appId: string): Promise<Array<Record<string, unknown>>> {
  const builtin = await Promise.all(
    listModels().map(async (manifest) => toClarifaiModel(manifest, await modelVersionId(manifest.id)) as unknown as Record<string, unknown>),
  );
  const own = await Promise.all(
    (await listAppModels(appId)).map(async (record) => toClarifaiAppModel(record, await reportedVersionOf(record))),
  );
  return [...builtin, ...own];
}

/** Returns the Clarifai JSON of a built-in or app model, or throws `MODEL_NOT_FOUND`. */
export async function describeModel(appId: string, modelId: string): Promise<Record<string, unknown>> {
  if (isBuiltinModel(modelId)) {
    const manifest = getModel(modelId);
    return toClarifaiModel(manifest, await modelVersionId(manifest.id)) as unknown as Record<string, unknown>;
  }
  const record = await findModel(appId, modelId);
  if (record === undefined) {
    throw await modelNotFound(appId, modelId);
  }
  return toClarifaiAppModel(record, await reportedVersionOf(record));
}

async function modelNotFound(appId: string, modelId: string, nodeId?: string): Promise<NotFoundError> {
  const prefix = nodeId === undefined ? '' : `Node "${nodeId}": `;
  const available = [...listModels().map((manifest) => manifest.id), ...(await listAppModels(appId)).map((model) => model.id)];
  return new NotFoundError(
    'MODEL_NOT_FOUND',
    `${prefix}model "${modelId}" does not exist in app ${JSON.stringify(appId)}. Available models: ${available.join(', ')}.`,
    StatusCode.MODEL_DOES_NOT_EXIST,
  );
}

/** Resolves the model of every node of `definition`; an unknown model is `MODEL_NOT_FOUND` naming the node. */
export async function resolveWorkflowModels(
  appId: string,
  definition: WorkflowDefinition,
): Promise<Map<string, ResolvedModel>> {
  const resolved = new Map<string, ResolvedModel>();
  for (const node of definition.nodes) {
    const modelId = node.model.id;
    if (resolved.has(modelId)) {
      continue;
    }
    if (isBuiltinModel(modelId)) {
      const manifest = getModel(modelId);
      resolved.set(modelId, resolveOnnxModel(manifest.id, manifest.model_type_id, await modelVersionId(manifest.id)));
      continue;
    }
    const record = await findModel(appId, modelId);
    if (record === undefined) {
      // A 400 rather than 404: the workflow is the resource being created, and it is invalid.
      const notFound = await modelNotFound(appId, modelId, node.id);
      throw new InvalidInputError('MODEL_NOT_FOUND', notFound.message, StatusCode.MODEL_DOES_NOT_EXIST);
    }
    const type = APP_MODEL_TYPES[record.model_type_id];
    const runnable =
      isOperatorTypeId(record.model_type_id) ||
      isOnnxModelType(record.model_type_id) ||
      record.model_type_id === EMBEDDING_CLASSIFIER_TYPE;
    if (type === undefined || !runnable) {
      throw new InvalidInputError(
        'INVALID_MODEL_TYPE',
        `Node "${node.id}": model ${modelId} has type ${record.model_type_id}, which this version of Percept cannot run.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
    resolved.set(modelId, type.resolve(record));
  }
  return resolved;
}
