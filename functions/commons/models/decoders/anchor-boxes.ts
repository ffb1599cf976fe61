/**
 * Decoder for SSD-style detectors that regress boxes relative to a fixed grid of anchors, as
 * MediaPipe's BlazeFace does. Anchors are generated as MediaPipe's SsdAnchorsCalculator does
 * with `fixed_anchor_size: true`. Each layer covers the input with a grid of cells `stride`
 * pixels apart, and each cell contains `anchors_per_cell` anchors at its centre, ordered by
 * row, column, anchor. Box regressions are decoded as MediaPipe's
 * TensorsToDetectionsCalculator does with x, y, w and h scales equal to the input size. In
 * input pixels: centre = anchor centre + (dx, dy), size = (w, h).
 */
import type { OutputData } from '#commons/clarifai/types.ts';
import type { AnchorBoxesOutputSpec, AnchorLayerSpec } from '#commons/models/manifest.ts';
import { sigmoid } from '#commons/models/decoders/math.ts';
import { type Detection, suppressPerClass, toRegions } from '#commons/models/decoders/regions.ts';
import { type DecodeContext, type InputGeometry, readOutputSlice } from '#commons/models/decoders/types.ts';

/** Centre of one anchor, in model-input pixels. */
export interface AnchorCentre {
  x: number;
  y: number;
}

/** Generates the anchor centres of one layer, rows first, then columns, then anchors of a cell. */
export function generateAnchors(
  layer: Pick<AnchorLayerSpec, 'stride' | 'anchors_per_cell'>,
  inputWidth: number,
  inputHeight: number,
): AnchorCentre[] {
  const columns = Math.ceil(inputWidth / layer.stride);
  const rows = Math.ceil(inputHeight / layer.stride);
  const anchors: AnchorCentre[] = [];
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const centre = { x: ((column + 0.5) / columns) * inputWidth, y: ((row + 0.5) / rows) * inputHeight };
      for (let n = 0; n < layer.anchors_per_cell; n++) {
        anchors.push(centre);
      }
    }
  }
  return anchors;
}

function decodeLayer(
  context: DecodeContext,
  output: AnchorBoxesOutputSpec,
  layer: AnchorLayerSpec,
  geometry: InputGeometry,
): Detection[] {
  const { manifest } = context;
  const anchors = generateAnchors(layer, geometry.inputWidth, geometry.inputHeight);
  const boxes = readOutputSlice(context, layer.tensor);
  const scores = readOutputSlice(context, layer.scores_tensor);
  const classCount = manifest.concepts.length;
  const valuesPerBox = boxes.data.length / anchors.length;
  if (!Number.isInteger(valuesPerBox) || valuesPerBox < 4 || scores.data.length !== anchors.length * classCount) {
    throw new Error(
      `Model ${manifest.id}: the layer with stride ${layer.stride} has ${anchors.length} anchors for a ` +
        `${geometry.inputWidth} x ${geometry.inputHeight} input, but "${layer.tensor}" has shape ` +
        `[${boxes.dims.join(', ')}] and "${layer.scores_tensor}" [${scores.dims.join(', ')}]. Expected ` +
        `[N, ${anchors.length}, >= 4] and [N, ${anchors.length}, ${classCount}]. Fix stride or anchors_per_cell.`,
    );
  }

  const detections: Detection[] = [];
  anchors.forEach((anchor, index) => {
    let classIndex = 0;
    let raw = -Infinity;
    for (let c = 0; c < classCount; c++) {
      const value = scores.data[index * classCount + c] ?? -Infinity;
      if (value > raw) {
        raw = value;
        classIndex = c;
      }
    }
    const score = output.scores === 'logits' ? sigmoid(raw) : raw;
    if (!(score >= output.score_threshold)) {
      return;
    }
    const offset = index * valuesPerBox;
    const centreX = anchor.x + (boxes.data[offset] ?? 0);
    const centreY = anchor.y + (boxes.data[offset + 1] ?? 0);
    const halfWidth = (boxes.data[offset + 2] ?? 0) / 2;
    const halfHeight = (boxes.data[offset + 3] ?? 0) / 2;
    detections.push({
      box: {
        left: centreX - halfWidth,
        top: centreY - halfHeight,
        right: centreX + halfWidth,
        bottom: centreY + halfHeight,
      },
      score,
      classIndex,
    });
  });
  return detections;
}

// NOTE: MediaPipe merges overlapping face boxes into their score-weighted average ("weighted
// NMS"). This decoder keeps the best box of each overlapping group, as human's BlazeFace does.
export function decodeAnchorBoxes(context: DecodeContext): OutputData {
  const { manifest, geometry } = context;
  const output = manifest.output as AnchorBoxesOutputSpec;
  const candidates = output.layers.flatMap((layer) => decodeLayer(context, output, layer, geometry));
  const kept = suppressPerClass(candidates, output.iou_threshold);
  return { regions: toRegions(manifest, geometry, kept, output.max_detections) };
}
