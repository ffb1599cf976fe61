/**
 * The built-in models. Manifests are imported statically (not read from disk) so that the
 * Lambda bundle carries them without extra files. A test checks that every file in
 * `models/builtin/` is listed here.
 */
import { NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ModelManifest, validateManifest } from '#commons/models/manifest.ts';
import faceAge from '../../../models/builtin/face-age.json' with { type: 'json' };
import faceDetection from '../../../models/builtin/face-detection.json' with { type: 'json' };
import faceEmbedding from '../../../models/builtin/face-embedding.json' with { type: 'json' };
import faceEmotion from '../../../models/builtin/face-emotion.json' with { type: 'json' };
import faceGender from '../../../models/builtin/face-gender.json' with { type: 'json' };
import generalImageEmbedding from '../../../models/builtin/general-image-embedding.json' with { type: 'json' };
import generalObjectDetection from '../../../models/builtin/general-object-detection.json' with { type: 'json' };
import ocrTextDetector from '../../../models/builtin/ocr-text-detector.json' with { type: 'json' };
import ocrTextOrientation from '../../../models/builtin/ocr-text-orientation.json' with { type: 'json' };

const BUILTIN_MANIFESTS: ReadonlyArray<{ file: string; json: unknown }> = [
  { file: 'models/builtin/ocr-text-detector.json', json: ocrTextDetector },
  { file: 'models/builtin/ocr-text-orientation.json', json: ocrTextOrientation },
  { file: 'models/builtin/general-object-detection.json', json: generalObjectDetection },
  { file: 'models/builtin/general-image-embedding.json', json: generalImageEmbedding },
  { file: 'models/builtin/face-detection.json', json: faceDetection },
  { file: 'models/builtin/face-embedding.json', json: faceEmbedding },
  { file: 'models/builtin/face-age.json', json: faceAge },
  { file: 'models/builtin/face-gender.json', json: faceGender },
  { file: 'models/builtin/face-emotion.json', json: faceEmotion },
];

let catalog: Map<string, ModelManifest> | undefined;

// Validated on first use, so a broken manifest fails the first request with its field names
// instead of crashing the module import.
function loadCatalog(): Map<string, ModelManifest> {
  if (catalog === undefined) {
    const manifests = new Map<string, ModelManifest>();
    for (const { file, json } of BUILTIN_MANIFESTS) {
      const manifest = validateManifest(json, file);
      manifests.set(manifest.id, manifest);
    }
    catalog = manifests;
  }
  return catalog;
}

/** Lists every built-in model, in a stable order. */
export function listModels(): ModelManifest[] {
  return [...loadCatalog().values()];
}

/** Returns the manifest of `id`; throws `MODEL_NOT_FOUND` listing the available ids. */
export function getModel(id: string): ModelManifest {
  const manifest = loadCatalog().get(id);
  if (manifest === undefined) {
    const available = [...loadCatalog().keys()].join(', ');
    throw new NotFoundError(
      'MODEL_NOT_FOUND',
      `Model "${id}" does not exist. Available models: ${available}.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }
  return manifest;
}
