/** The Clarifai v2 JSON of a Percept model, as `GET /v2/models/{id}` returns it. */
import type { ModelTypeId } from '#commons/clarifai/types.ts';
import { StatusCode } from '#commons/errors.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';

/** App that every built-in model belongs to, as Clarifai's public models live in app `main`. */
export const BUILTIN_APP_ID = 'main';

export interface ClarifaiModelConcept {
  id: string;
  name: string;
  value: number;
  app_id: string;
}

export interface ClarifaiModel {
  id: string;
  name: string;
  description: string;
  created_at: string;
  app_id: string;
  model_type_id: ModelTypeId;
  output_info: { data: { concepts: ClarifaiModelConcept[] } };
  model_version: {
    id: string;
    created_at: string;
    status: { code: number; description: string };
  };
}

/** Builds the model JSON; the version shares the model's `created_at`, as a manifest has one version. */
export function toClarifaiModel(manifest: ModelManifest, versionId: string): ClarifaiModel {
  return {
    id: manifest.id,
    name: manifest.name,
    description: manifest.description,
    created_at: manifest.created_at,
    app_id: BUILTIN_APP_ID,
    model_type_id: manifest.model_type_id,
    output_info: {
      data: {
        concepts: manifest.concepts.map((concept) => ({
          id: concept.id,
          name: concept.name,
          value: 1,
          app_id: BUILTIN_APP_ID,
        })),
      },
    },
    model_version: {
      id: versionId,
      created_at: manifest.created_at,
      status: { code: StatusCode.MODEL_TRAINED, description: 'Model is trained and ready' },
    },
  };
}
