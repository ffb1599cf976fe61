/**
 * The engine's side of a node task: the payload a compiled workflow sends to a node's
 * Lambda function, its translation into the NodeTaskEvent that node code receives, and the
 * bookkeeping added to the NodeOutput that node code returns.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type {
  Crop,
  DataKind,
  NodeModel,
  NodeOutput,
  NodeTaskEvent,
  RawModelParams,
  Region,
  WorkflowInput,
} from '#commons/workflows/node-data.ts';

/** What a compiled Task state passes to a node's function. */
export interface NodeTaskPayload {
  input: WorkflowInput;
  node: {
    id: string;
    model: NodeModel;
    params: RawModelParams;
    /** The nodes fed by this one, with their keys in the execution state. */
    downstream: Array<{ node_id: string; key: string }>;
    /** The kind the compiler worked out for this node's output. */
    output_kind: DataKind;
  };
  /** `u<i>`: the output of the i-th entry of `upstream_refs`, or its crop runs when merged. */
  upstream: Record<string, unknown>;
  upstream_refs: Array<{ node_id: string; key: string; merged: boolean; model?: NodeModel }>;
  crop?: Crop;
}

/**
 * A NodeOutput as the execution state stores it. `gates` holds, for each downstream
 * node's key, whether that node runs on this input; the compiled Choice states read it.
 */
export interface StoredNodeOutput extends NodeOutput {
  gates: Record<string, boolean>;
}

/** One iteration of a crop scope's Map state: the crop and the outputs of the scope's nodes. */
export interface CropRun {
  crop: Crop;
  outputs: Record<string, StoredNodeOutput>;
}

/** Builds the event for node code: upstream outputs in `node_inputs` order, crop runs merged. */
export function toNodeTaskEvent(payload: NodeTaskPayload): NodeTaskEvent {
  const upstream = payload.upstream_refs.map((ref, index): NodeOutput => {
    const value = payload.upstream[`u${index}`];
    if (ref.merged) {
      return mergeCropRuns((value ?? []) as CropRun[], ref.key, { node_id: ref.node_id, model: ref.model });
    }
    const { gates: _gates, ...output } = value as StoredNodeOutput;
    return output;
  });

  return {
    input: payload.input,
    node: {
      id: payload.node.id,
      model: payload.node.model,
      params: payload.node.params,
      downstream: payload.node.downstream.map((next) => next.node_id),
    },
    upstream,
    ...(payload.crop === undefined ? {} : { crop: payload.crop }),
  };
}

/**
 * Completes what node code returned: sets `node_id` and `model` from the payload, makes
 * sure a crops node has a `crops` list, and opens or closes the gate of each downstream
 * node from `dropped` and `routes`. A route to a node that is not downstream is an error.
 */
export function finishNodeOutput(payload: NodeTaskPayload, output: NodeOutput): StoredNodeOutput {
  const { skipped: _skipped, ...rest } = output;
  const downstreamIds = payload.node.downstream.map((next) => next.node_id);
  for (const route of output.routes ?? []) {
    if (!downstreamIds.includes(route)) {
      throw new InvalidInputError(
        'INVALID_ROUTE',
        `Node "${payload.node.id}" routed the input to "${route}", which is not fed by it. Its downstream nodes are: ${downstreamIds.join(', ') || 'none'}.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
  }

  const gates = Object.fromEntries(
    payload.node.downstream.map((next) => [
      next.key,
      output.dropped !== true && (output.routes === undefined || output.routes.includes(next.node_id)),
    ]),
  );
  return {
    ...rest,
    node_id: payload.node.id,
    model: payload.node.model,
    data: output.data ?? {},
    ...(payload.node.output_kind === 'crops' ? { crops: output.crops ?? [] } : {}),
    gates,
  };
}

/**
 * Merges the per-crop outputs of node `key` into one output for a node that runs once per
 * input. Each crop where the node found concepts or embeddings becomes a region with the
 * crop's bounding box and those concepts or embedding refs in its data; regions it detected
 * inside the crop become regions of their own, moved into input-image coordinates. Crops
 * where the node found nothing, was skipped or dropped the input add no region.
 */
export function mergeCropRuns(
  runs: readonly CropRun[],
  key: string,
  fallback: { node_id: string; model?: NodeModel },
): NodeOutput {
  const regions: Region[] = [];
  let first: StoredNodeOutput | undefined;

  for (const run of runs) {
    const output = run.outputs[key];
    if (output === undefined || output.skipped === true || output.dropped === true) {
      continue;
    }
    first ??= output;
    const cropRegion = run.crop.region;
    const detected = output.data.regions ?? [];

    const concepts = output.data.concepts ?? [];
    if (concepts.length > 0 || output.data.embedding_refs !== undefined) {
      regions.push({
        id: cropRegion.id,
        region_info: cropRegion.region_info,
        ...(cropRegion.value === undefined ? {} : { value: cropRegion.value }),
        data: {
          concepts,
          ...(output.data.embedding_refs === undefined ? {} : { embedding_refs: output.data.embedding_refs }),
        } as Region['data'],
      });
    }
    for (const region of detected) {
      regions.push(toInputCoordinates(region, cropRegion));
    }
  }

  return {
    node_id: first?.node_id ?? fallback.node_id,
    model: first?.model ?? fallback.model ?? { id: '', model_type_id: '', model_version: { id: '' } },
    data: { regions },
  };
}

// Moves a region found in a crop (relative to the crop) into the input image's coordinates.
function toInputCoordinates(region: Region, crop: Region): Region {
  const outer = crop.region_info.bounding_box;
  const inner = region.region_info.bounding_box;
  const height = outer.bottom_row - outer.top_row;
  const width = outer.right_col - outer.left_col;
  return {
    ...region,
    id: `${crop.id}-${region.id}`,
    region_info: {
      bounding_box: {
        top_row: outer.top_row + inner.top_row * height,
        left_col: outer.left_col + inner.left_col * width,
        bottom_row: outer.top_row + inner.bottom_row * height,
        right_col: outer.left_col + inner.right_col * width,
      },
    },
  };
}
