/**
 * What travels between workflow nodes. Step Functions passes at most 256 KB between
 * states, so images, crops and embedding vectors travel as S3 references, never inline.
 */
import type { Concept, OutputData, Region } from '#commons/clarifai/types.ts';

/** An object in the Percept bucket (an input image, a crop, a stored embedding vector). */
export interface S3Ref {
  bucket: string;
  key: string;
  version_id?: string;
}

/** The input a workflow runs on. */
export interface WorkflowInput {
  app_id: string;
  id: string;
  image: S3Ref;
  metadata?: Record<string, unknown>;
}

/** An embedding whose vector is stored in S3 (`Float32Array` little-endian bytes). */
export interface EmbeddingRef {
  vector_ref: S3Ref;
  num_dimensions: number;
}

/**
 * The output of one node, in Clarifai's shape. `data.embeddings` is replaced by
 * `embedding_refs`; `crops` lists the images an image cropper or tiler made, which the
 * downstream nodes then run on one by one (a Map state).
 */
export interface NodeOutput {
  node_id: string;
  model: { id: string; model_type_id: string; model_version: { id: string } };
  data: Omit<OutputData, 'embeddings'> & { embedding_refs?: EmbeddingRef[] };
  crops?: Array<{ image: S3Ref; region: Region }>;
  /** Set by a sampler, router or filter: the downstream nodes of this branch do not run. */
  dropped?: boolean;
  /** Free-form numbers an operator reports, such as an object count. */
  metadata?: Record<string, unknown>;
}

/** The event a node's Lambda function receives. */
export interface NodeTaskEvent {
  input: WorkflowInput;
  node: {
    id: string;
    model: { id: string; model_type_id: string; model_version?: { id: string } };
    /** The model's parameters, from its `output_info` (thresholds, keep_fraction, ...). */
    params?: Record<string, unknown>;
  };
  /** Outputs of the nodes listed in this node's `node_inputs`, in that order. */
  upstream: NodeOutput[];
  /** Set when the node runs on one crop inside a Map state. */
  crop?: { image: S3Ref; region: Region };
}

export type { Concept, Region };
