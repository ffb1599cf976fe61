/**
 * Reads a finished execution: the output of each node in Clarifai's shape (for the results
 * route and the annotations), and the failing node with its reason.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '#commons/aws/clients.ts';
import type { Embedding, OutputData, Region } from '#commons/clarifai/types.ts';
import { type CaughtError, describeCaughtError } from '#commons/lambda/task-errors.ts';
import type { OutputLayout } from '#commons/workflows/compiler.ts';
import type { EmbeddingRef, NodeOutput } from '#commons/workflows/node-data.ts';
import { type CropRun, type StoredNodeOutput, mergeCropRuns } from '#commons/workflows/task-event.ts';

/** The state that a compiled workflow's `Collect outputs` step passes on (and returns in results mode). */
export interface CollectedState {
  outputs: Record<string, unknown>;
  layout: OutputLayout;
}

/**
 * Returns the output of every node whose output is not suppressed, in definition order.
 * Nodes that ran per crop are merged into one output with a region per crop.
 */
export function collectNodeOutputs({ outputs, layout }: CollectedState): NodeOutput[] {
  const collected: NodeOutput[] = [];
  for (const node of layout.nodes) {
    if (node.suppress_output) {
      continue;
    }
    if (node.crops_key !== undefined) {
      const runs = (outputs[node.crops_key] ?? []) as CropRun[];
      collected.push(mergeCropRuns(runs, node.key, { node_id: node.node_id, model: node.model }));
      continue;
    }
    const stored = outputs[node.key] as StoredNodeOutput | undefined;
    if (stored === undefined) {
      continue;
    }
    const { gates: _gates, ...output } = stored;
    collected.push(output);
  }
  return collected;
}

/** Reads the vectors of embedding refs from S3, so `data` has Clarifai's `embeddings` field. */
export async function inlineEmbeddings(data: NodeOutput['data']): Promise<OutputData> {
  const { embedding_refs: refs, regions, ...rest } = data;
  const result: OutputData = { ...rest };
  if (refs !== undefined) {
    result.embeddings = await Promise.all(refs.map(readEmbedding));
  }
  if (regions !== undefined) {
    result.regions = await Promise.all(
      regions.map(async (region) => {
        const regionData = region.data as Region['data'] & { embedding_refs?: EmbeddingRef[] };
        if (regionData.embedding_refs === undefined) {
          return region;
        }
        const { embedding_refs: regionRefs, ...regionRest } = regionData;
        const embeddings = await Promise.all(regionRefs.map(readEmbedding));
        return { ...region, data: { ...regionRest, embeddings } as Region['data'] };
      }),
    );
  }
  return result;
}

async function readEmbedding(ref: EmbeddingRef): Promise<Embedding> {
  const response = await s3Client().send(
    new GetObjectCommand({ Bucket: ref.vector_ref.bucket, Key: ref.vector_ref.key, VersionId: ref.vector_ref.version_id }),
  );
  const bytes = Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
  const vector: number[] = [];
  for (let offset = 0; offset + 4 <= bytes.length; offset += 4) {
    vector.push(bytes.readFloatLE(offset));
  }
  return { vector, num_dimensions: ref.num_dimensions };
}

/**
 * Failure as a compiled workflow stores it at `$.failure`: the error name (with
 * `@<node id>@<model id>` appended when a node failed) and the cause.
 */
export interface WorkflowFailure {
  error: string;
  cause?: string;
}

export interface FailureDescription {
  code: string;
  /** A message naming the failing node when it is known. */
  message: string;
  node_id?: string;
}

/** Describes a failure: its stable code, and a message naming the node that failed. */
export function describeWorkflowFailure(failure: WorkflowFailure): FailureDescription {
  const [error = '', nodeId, modelId] = failure.error.split('@');
  const caught: CaughtError = failure.cause === undefined ? { Error: error } : { Error: error, Cause: failure.cause };
  const { code, message } = describeCaughtError(caught);
  if (nodeId === undefined) {
    return { code, message };
  }
  const model = modelId === undefined ? '' : ` (model ${modelId})`;
  return { code, message: `Node "${nodeId}"${model} failed: ${message}`, node_id: nodeId };
}
