/**
 * Decoder for DBNet-style text detectors, whose output is a per-pixel text probability map.
 * Steps, all in probability-map pixels: threshold the map, label 8-connected components,
 * score each component by its mean probability, expand ("unclip") its bounding box, suppress
 * overlapping boxes, then map the boxes to fractions of the image.
 *
 * NOTE: boxes are axis-aligned, because Clarifai regions are. PaddleOCR fits a rotated
 * rectangle instead, so on tilted text each box here also covers some background.
 */
import type { OutputData, Region } from '#commons/clarifai/types.ts';
import type { TextMapOutputSpec } from '#commons/models/manifest.ts';
import { type Box, nonMaxSuppression } from '#commons/models/decoders/nms.ts';
import { type DecodeContext, readOutputSlice, regionId, toBoundingBox } from '#commons/models/decoders/types.ts';

/** A connected set of above-threshold pixels, with inclusive pixel bounds. */
export interface Component {
  pixelCount: number;
  probabilitySum: number;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

export interface ScoredBox extends Box {
  score: number;
}

export type TextMapParameters = Pick<
  TextMapOutputSpec,
  'threshold' | 'box_threshold' | 'unclip_ratio' | 'min_size' | 'max_candidates' | 'iou_threshold'
>;

/** Labels the 8-connected components of pixels whose probability is above `threshold`. */
export function findComponents(map: ArrayLike<number>, width: number, height: number, threshold: number): Component[] {
  const visited = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const components: Component[] = [];

  for (let start = 0; start < width * height; start++) {
    if (visited[start] === 1 || (map[start] ?? 0) <= threshold) {
      continue;
    }
    const component: Component = {
      pixelCount: 0,
      probabilitySum: 0,
      minX: width,
      minY: height,
      maxX: -1,
      maxY: -1,
    };
    let top = 0;
    stack[top++] = start;
    visited[start] = 1;

    while (top > 0) {
      const pixel = stack[--top] as number;
      const x = pixel % width;
      const y = (pixel - x) / width;
      component.pixelCount += 1;
      component.probabilitySum += map[pixel] ?? 0;
      component.minX = Math.min(component.minX, x);
      component.maxX = Math.max(component.maxX, x);
      component.minY = Math.min(component.minY, y);
      component.maxY = Math.max(component.maxY, y);

      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) {
          continue;
        }
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const neighbour = ny * width + nx;
          if (nx < 0 || nx >= width || visited[neighbour] === 1 || (map[neighbour] ?? 0) <= threshold) {
            continue;
          }
          visited[neighbour] = 1;
          stack[top++] = neighbour;
        }
      }
    }
    components.push(component);
  }
  return components;
}

/**
 * Expands a box outwards by `area * ratio / perimeter`, the distance PaddleOCR's DB
 * post-processing offsets the shrunk text kernel by to recover the full text line.
 */
export function unclip(box: Box, ratio: number): Box {
  const width = box.right - box.left;
  const height = box.bottom - box.top;
  const perimeter = 2 * (width + height);
  const distance = perimeter > 0 ? (width * height * ratio) / perimeter : 0;
  return {
    top: box.top - distance,
    left: box.left - distance,
    bottom: box.bottom + distance,
    right: box.right + distance,
  };
}

/**
 * Turns a probability map into text boxes in map pixels, clipped to the map, in reading order
 * (top to bottom, then left to right). A component's box spans its pixels' edges, so a single
 * pixel at (x, y) gives the box [x, x + 1) x [y, y + 1).
 */
export function findTextBoxes(
  map: ArrayLike<number>,
  width: number,
  height: number,
  parameters: TextMapParameters,
): ScoredBox[] {
  const components = findComponents(map, width, height, parameters.threshold)
    .sort((a, b) => b.pixelCount - a.pixelCount)
    .slice(0, parameters.max_candidates);

  const candidates: ScoredBox[] = [];
  for (const component of components) {
    const box: Box = {
      top: component.minY,
      left: component.minX,
      bottom: component.maxY + 1,
      right: component.maxX + 1,
    };
    if (Math.min(box.bottom - box.top, box.right - box.left) < parameters.min_size) {
      continue;
    }
    const score = component.probabilitySum / component.pixelCount;
    if (score < parameters.box_threshold) {
      continue;
    }
    const expanded = unclip(box, parameters.unclip_ratio);
    // The same +2 margin as PaddleOCR's second size check, which drops boxes that stay thin.
    if (Math.min(expanded.bottom - expanded.top, expanded.right - expanded.left) < parameters.min_size + 2) {
      continue;
    }
    candidates.push({
      top: Math.max(0, expanded.top),
      left: Math.max(0, expanded.left),
      bottom: Math.min(height, expanded.bottom),
      right: Math.min(width, expanded.right),
      score,
    });
  }

  const kept = nonMaxSuppression(
    candidates,
    candidates.map((candidate) => candidate.score),
    parameters.iou_threshold,
  ).map((index) => candidates[index] as ScoredBox);
  return kept.sort((a, b) => a.top - b.top || a.left - b.left);
}

/** Decodes a [N, 1, H, W] (or [N, H, W]) map whose H and W match the model input. */
export function decodeTextProbabilityMap(context: DecodeContext): OutputData {
  const { manifest, geometry } = context;
  const output = manifest.output as TextMapOutputSpec;
  const { data, dims } = readOutputSlice(context, output.tensor);
  const height = dims.at(-2) ?? 0;
  const width = dims.at(-1) ?? 0;
  if (width !== geometry.inputWidth || height !== geometry.inputHeight || data.length !== width * height) {
    throw new Error(
      `Output "${output.tensor}" of model ${manifest.id} has shape [${dims.join(', ')}], expected ` +
        `[N, 1, ${geometry.inputHeight}, ${geometry.inputWidth}] to match the input.`,
    );
  }

  const concept = manifest.concepts[0] as { id: string; name: string };
  const regions: Region[] = [];
  for (const box of findTextBoxes(data, width, height, output)) {
    const boundingBox = toBoundingBox(box, geometry);
    if (boundingBox.bottom_row <= boundingBox.top_row || boundingBox.right_col <= boundingBox.left_col) {
      continue;
    }
    regions.push({
      id: regionId(manifest.id, regions.length, boundingBox),
      region_info: { bounding_box: boundingBox },
      value: box.score,
      data: { concepts: [{ id: concept.id, name: concept.name, value: box.score }] },
    });
  }
  return { regions };
}
