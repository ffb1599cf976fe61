/**
 * The built-in default workflow: what every new input runs unless its app sets
 * `default_workflow_id`. It is an ordinary workflow definition in Clarifai's shape, compiled
 * by `compiler.ts` like the workflows the API creates: CDK compiles it at synth time and the
 * local stack at start.
 */
import { getModel } from '#commons/models/catalog.ts';
import type { WorkflowDefinition } from '#commons/workflows/definition.ts';
import { type ResolvedModel, resolveOnnxModel } from '#commons/workflows/model-types.ts';

export const DEFAULT_WORKFLOW_ID = 'default';

/**
 * Every input is tagged with the objects found in it and gets a general embedding for
 * similarity search, besides its text regions and text orientation. All four nodes run on
 * the input image, in parallel.
 */
export const DEFAULT_WORKFLOW: Readonly<WorkflowDefinition> = {
  id: DEFAULT_WORKFLOW_ID,
  description: 'Built-in: objects, a general image embedding, text regions and text orientation of every input',
  nodes: [
    { id: 'object-detection', model: { id: 'general-object-detection' }, node_inputs: [], suppress_output: false },
    { id: 'image-embedding', model: { id: 'general-image-embedding' }, node_inputs: [], suppress_output: false },
    { id: 'text-detection', model: { id: 'ocr-text-detector' }, node_inputs: [], suppress_output: false },
    { id: 'text-orientation', model: { id: 'ocr-text-orientation' }, node_inputs: [], suppress_output: false },
  ],
};

/** Ids of the built-in models that the default workflow runs, in node order. */
export function defaultWorkflowModelIds(): string[] {
  return [...new Set(DEFAULT_WORKFLOW.nodes.map((node) => node.model.id))];
}

/**
 * Describes the models of the default workflow for the compiler. `versionIdOf` returns a
 * model's version id (the first 32 hex digits of its model.onnx SHA-256), which the compiled
 * ASL carries into every output and annotation id.
 */
export function resolveDefaultWorkflowModels(versionIdOf: (modelId: string) => string): Map<string, ResolvedModel> {
  const models = new Map<string, ResolvedModel>();
  for (const modelId of defaultWorkflowModelIds()) {
    const manifest = getModel(modelId);
    models.set(modelId, resolveOnnxModel(modelId, manifest.model_type_id, versionIdOf(modelId)));
  }
  return models;
}
