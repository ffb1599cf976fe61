/**
 * What the workflow compiler needs to know about the model of each node: which Lambda
 * function runs it, its parameters, and the kinds of data it takes and produces.
 */
import { createHash } from 'node:crypto';
import type { ModelTypeId } from '#commons/clarifai/types.ts';
import type { DataKind, OutputKind, RawModelParams } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';

/** The model types that run ONNX models in a model function (one Lambda function per type). */
export const ONNX_MODEL_TYPES: Readonly<Record<ModelTypeId, { inputKinds: readonly DataKind[]; outputKind: DataKind }>> = {
  'visual-classifier': { inputKinds: ['image'], outputKind: 'concepts' },
  'visual-detector': { inputKinds: ['image'], outputKind: 'regions' },
  'visual-embedder': { inputKinds: ['image'], outputKind: 'embeddings' },
};

export function isOnnxModelType(value: string): value is ModelTypeId {
  return Object.hasOwn(ONNX_MODEL_TYPES, value);
}

/** A model as a workflow node uses it. */
export interface ResolvedModel {
  id: string;
  model_type_id: string;
  version_id: string;
  /** `model` runs in the function of its ONNX model type; `operator` in the operators function. */
  runner: { kind: 'model'; modelTypeId: ModelTypeId } | { kind: 'operator' };
  params: RawModelParams;
  inputKinds: readonly DataKind[];
  outputKind: OutputKind;
  aggregatesCrops: boolean;
}

export const EMPTY_PARAMS: RawModelParams = { concepts: [], model_metadata: {} };

/** Describes a model that runs in a model function: a built-in model, or later an app's own ONNX model. */
export function resolveOnnxModel(id: string, modelTypeId: ModelTypeId, versionId: string): ResolvedModel {
  const kinds = ONNX_MODEL_TYPES[modelTypeId];
  return {
    id,
    model_type_id: modelTypeId,
    version_id: versionId,
    runner: { kind: 'model', modelTypeId },
    params: EMPTY_PARAMS,
    inputKinds: kinds.inputKinds,
    outputKind: kinds.outputKind,
    aggregatesCrops: false,
  };
}

/** Describes a model of an operator type with its stored parameters. */
export function resolveOperatorModel(id: string, operator: Operator, params: RawModelParams, versionId: string): ResolvedModel {
  return {
    id,
    model_type_id: operator.typeId,
    version_id: versionId,
    runner: { kind: 'operator' },
    params,
    inputKinds: operator.inputKinds,
    outputKind: operator.outputKind,
    aggregatesCrops: operator.aggregatesCrops ?? false,
  };
}

/**
 * Derives the version id of an operator model from its type and parameters (32 hex digits,
 * like the built-in models' ids). A model whose parameters change gets a new version, so its
 * annotations do not overwrite those of the old parameters.
 */
export function operatorVersionId(modelTypeId: string, params: RawModelParams): string {
  return createHash('sha256').update(JSON.stringify([modelTypeId, params])).digest('hex').slice(0, 32);
}
