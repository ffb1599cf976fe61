/**
 * The data that travels between workflow nodes, and the contract between the workflow
 * engine and the code that runs one node (a model function or an operator).
 *
 * Step Functions passes at most 256 KB between states, so images, crops and embedding
 * vectors travel as S3 references, never inline. Every derived object a node writes
 * goes under the key that `nodeObjectKey` returns, so a second execution for the same
 * input overwrites the same objects instead of adding new ones.
 */
import type { Concept, OutputData, Region } from '#commons/clarifai/types.ts';

/** An object in the Percept bucket (an input image, a crop, a stored embedding vector). */
export interface S3Ref {
  bucket: string;
  key: string;
  version_id?: string;
}

/**
 * The input a workflow runs on. `image` is the original upload; nodes that run on a crop
 * get the crop in `NodeTaskEvent.crop`, never a changed `input`.
 */
export interface WorkflowInput {
  app_id: string;
  id: string;
  image: S3Ref;
  /** The input's user metadata (`data.metadata` of a Clarifai input), for filters and routers. */
  metadata?: Record<string, unknown>;
  /**
   * True for the inputs of `POST /v2/workflows/{id}/results`, which are not stored in the
   * app: a node that writes to the app's inputs (annotation-writer) must leave them alone.
   */
  transient?: boolean;
}

/**
 * The kind of data a node consumes or produces. The workflow compiler checks every edge
 * of the graph with these kinds, so a cropper fed by a classifier is rejected before
 * anything runs.
 *
 * - `image`: the input image, or inside a crop scope the current crop. Every node without
 *   `node_inputs` is fed by `image`.
 * - `regions`: `data.regions` with bounding boxes (a detector, a region thresholder).
 * - `concepts`: `data.concepts` of the whole image or crop (a classifier, a concept thresholder).
 * - `crops`: `crops`, images cut out of the input and stored in S3 (image-crop, image-tiling).
 * - `embeddings`: `data.embedding_refs` (an embedder).
 */
export type DataKind = 'image' | 'regions' | 'concepts' | 'crops' | 'embeddings';

export const DATA_KINDS: readonly DataKind[] = ['image', 'regions', 'concepts', 'crops', 'embeddings'];

/**
 * What a node type produces: a kind, or `passthrough` for a node that forwards the kind
 * it was fed (a sampler or filter fed by a classifier still produces `concepts`).
 */
export type OutputKind = DataKind | 'passthrough';

/** An embedding whose vector is stored in S3 as little-endian `Float32Array` bytes. */
export interface EmbeddingRef {
  vector_ref: S3Ref;
  num_dimensions: number;
}

/** An image cut out of the input, with the region of the input it covers. */
export interface Crop {
  image: S3Ref;
  /** Bounding box in the input image's relative coordinates (0 to 1), as Clarifai reports regions. */
  region: Region;
}

/** The model a node runs, as the workflow definition names it. */
export interface NodeModel {
  id: string;
  model_type_id: string;
  model_version: { id: string };
}

/**
 * The output of one node, in Clarifai's shape. `data.embeddings` is replaced by
 * `data.embedding_refs`. The engine sets `node_id` and `model` from the node it ran,
 * whatever the node's code returned in them.
 */
export interface NodeOutput {
  node_id: string;
  model: NodeModel;
  data: Omit<OutputData, 'embeddings'> & { embedding_refs?: EmbeddingRef[] };
  /** Images a cropper or tiler made. Downstream nodes fed by `image` run once per crop (a Map state). */
  crops?: Crop[];
  /**
   * Set by a sampler or filter that drops the input: no node downstream of this one runs
   * on it, and those nodes report `skipped`.
   */
  dropped?: boolean;
  /**
   * Set by a router: the ids of the downstream nodes that run on the input. Every other
   * downstream node of this one is skipped. Absent means all of them run.
   */
  routes?: string[];
  /**
   * Set by the engine, never by a node's code: this node did not run because an upstream
   * node dropped the input or routed it elsewhere. Its `data` is empty.
   */
  skipped?: boolean;
  /** Numbers and flags an operator reports beside `data`, such as an object count. */
  metadata?: Record<string, unknown>;
  /** Set by model nodes: size and format of the image (or crop) the model ran on. */
  image_info?: { width: number; height: number; format: string };
}

/**
 * The event that the code of one node receives, after the engine has resolved the
 * upstream outputs. Inside a crop scope, `crop` is the crop being processed and
 * `upstream` contains the outputs for that crop only.
 */
export interface NodeTaskEvent {
  input: WorkflowInput;
  node: {
    id: string;
    model: NodeModel;
    /**
     * The model's parameters as stored: `output_info.data.concepts` and
     * `output_info.output_config.model_metadata`. An operator reads them through its own
     * `validateParams`, never from here directly.
     */
    params: RawModelParams;
    /** Ids of the nodes that list this node in their `node_inputs`, in definition order (for routers). */
    downstream: string[];
  };
  /**
   * Outputs of the nodes listed in this node's `node_inputs`, in that order. An upstream
   * node that ran once per crop while this one runs once per input arrives merged: one
   * NodeOutput whose `data.regions` has one region per crop, in input-image coordinates,
   * carrying that crop's concepts, regions or embedding refs.
   */
  upstream: NodeOutput[];
  /** The crop this node runs on, when it runs inside a crop scope. */
  crop?: Crop;
}

/**
 * A model's parameters as the API stores them (`POST /v2/models`): Clarifai's
 * `output_info.data.concepts` for per-concept values (thresholds, synonyms) and
 * `output_info.output_config.model_metadata` for the rest (`keep_fraction`, ...).
 */
export interface RawModelParams {
  concepts: Concept[];
  model_metadata: Record<string, unknown>;
}

/** Folder of the bucket that contains every object a workflow node derives from an input. */
export const DERIVED_PREFIX = 'derived/';

/**
 * Returns the S3 key for an object `name` that the node of `event` derives from its input,
 * such as `crop-3.png` or `embedding-0.f32`: `derived/<input image key>/<node id>/[<crop
 * region id>/]<name>`. The key depends only on the input's image, the node and the crop,
 * so a repeated execution overwrites the same objects. Write them to the Percept bucket
 * (`BUCKET_NAME`): node functions may write there under `derived/`, but only read the
 * other buckets that `externalUploadBuckets` names.
 */
export function nodeObjectKey(event: Pick<NodeTaskEvent, 'input' | 'node' | 'crop'>, name: string): string {
  const cropPart = event.crop === undefined ? '' : `${event.crop.region.id}/`;
  return `${DERIVED_PREFIX}${event.input.image.key}/${event.node.id}/${cropPart}${name}`;
}

/** Returns the NodeOutput of the node in `event` with the given fields; `data` defaults to empty. */
export function outputOf(
  event: Pick<NodeTaskEvent, 'node'>,
  fields: Partial<Omit<NodeOutput, 'node_id' | 'model' | 'skipped'>> = {},
): NodeOutput {
  return {
    node_id: event.node.id,
    model: {
      id: event.node.model.id,
      model_type_id: event.node.model.model_type_id,
      model_version: event.node.model.model_version,
    },
    ...fields,
    data: fields.data ?? {},
  };
}

export type { Concept, Region };
