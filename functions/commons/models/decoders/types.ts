/** Decoder inputs, and helpers to read output tensors and place boxes. */
import { createHash } from 'node:crypto';
import type { InferenceSession } from 'onnxruntime-node';
import type { BoundingBox, OutputData } from '#commons/clarifai/types.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';
import type { Box } from '#commons/models/decoders/nms.ts';

/**
 * Position of the image inside the model input, in input pixels. Decoders use it to map boxes
 * from input coordinates back to fractions of the original image.
 */
export interface InputGeometry {
  inputWidth: number;
  inputHeight: number;
  contentLeft: number;
  contentTop: number;
  contentWidth: number;
  contentHeight: number;
}

export interface DecodeContext {
  manifest: ModelManifest;
  /** Outputs of one `session.run`, possibly holding a batch of several images. */
  outputs: InferenceSession.OnnxValueMapType;
  /** Position of this image in the batch. */
  batchIndex: number;
  geometry: InputGeometry;
}

export type Decoder = (context: DecodeContext) => OutputData;

/** One image's slice of a float32 output tensor, with the tensor's dimensions. */
export interface TensorSlice {
  data: Float32Array;
  /** Dimensions of the whole tensor, batch first. */
  dims: readonly number[];
}

/** Returns the `batchIndex` slice of the float32 output `name`; throws naming the outputs found. */
export function readOutputSlice(context: DecodeContext, name: string): TensorSlice {
  const tensor = context.outputs[name];
  const modelId = context.manifest.id;
  if (tensor === undefined) {
    const found = Object.keys(context.outputs).join(', ');
    throw new Error(`Model ${modelId} has no output tensor "${name}" (outputs: ${found}). Fix the manifest.`);
  }
  if (tensor.type !== 'float32') {
    throw new Error(`Output "${name}" of model ${modelId} is ${tensor.type}; the decoders read float32 only.`);
  }
  const [batchSize = 0, ...rest] = tensor.dims;
  if (context.batchIndex >= batchSize) {
    throw new Error(
      `Output "${name}" of model ${modelId} has batch size ${batchSize}, image ${context.batchIndex} is missing.`,
    );
  }
  const itemSize = rest.reduce((product, dim) => product * dim, 1);
  const data = (tensor.data as Float32Array).subarray(context.batchIndex * itemSize, (context.batchIndex + 1) * itemSize);
  return { data, dims: tensor.dims };
}

function clampToUnit(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** Maps a box in model-input pixels to fractions of the original image, clamped to 0..1. */
export function toBoundingBox(box: Box, geometry: InputGeometry): BoundingBox {
  return {
    top_row: clampToUnit((box.top - geometry.contentTop) / geometry.contentHeight),
    left_col: clampToUnit((box.left - geometry.contentLeft) / geometry.contentWidth),
    bottom_row: clampToUnit((box.bottom - geometry.contentTop) / geometry.contentHeight),
    right_col: clampToUnit((box.right - geometry.contentLeft) / geometry.contentWidth),
  };
}

/**
 * Returns a region id derived from the model, the position in the output and the box, so the
 * same image always gets the same ids and re-running a prediction does not duplicate regions.
 */
export function regionId(modelId: string, index: number, box: BoundingBox): string {
  const corners = [box.top_row, box.left_col, box.bottom_row, box.right_col].map((value) => value.toFixed(6));
  const key = [modelId, String(index), ...corners].join('/');
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}
