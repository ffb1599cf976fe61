/** Public entry point of the model runtime for handlers. */
export {
  getModel,
  listModels,
  loadSession,
  modelVersionId,
  predict,
  predictWithFile,
  preprocess,
  runSession,
} from '#commons/models/runtime.ts';
export type { ModelFile } from '#commons/models/runtime.ts';
export { toClarifaiModel } from '#commons/models/clarifai-model.ts';
export type { ModelManifest } from '#commons/models/manifest.ts';
