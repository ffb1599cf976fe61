/**
 * Decoder for object detectors whose graph outputs raw boxes and class scores: keeps boxes above
 * the score threshold, runs non-maximum suppression per class and maps boxes to the image.
 */
import type { OutputData, Region } from '#commons/clarifai/types.ts';
import type { DetectionOutputSpec } from '#commons/models/manifest.ts';
import { type Box, nonMaxSuppression } from '#commons/models/decoders/nms.ts';
import {
  type DecodeContext,
  type InputGeometry,
  readOutputSlice,
  regionId,
  toBoundingBox,
} from '#commons/models/decoders/types.ts';

interface Detection {
  box: Box;
  score: number;
  classIndex: number;
}

/** Converts one box of the boxes tensor to model-input pixels. */
export function toInputPixels(
  values: ArrayLike<number>,
  format: DetectionOutputSpec['box_format'],
  units: DetectionOutputSpec['box_units'],
  geometry: InputGeometry,
): Box {
  const [a = 0, b = 0, c = 0, d = 0] = Array.from(values);
  let box: Box;
  switch (format) {
    case 'xyxy':
      box = { left: a, top: b, right: c, bottom: d };
      break;
    case 'yxyx':
      box = { top: a, left: b, bottom: c, right: d };
      break;
    case 'cxcywh':
      box = { left: a - c / 2, top: b - d / 2, right: a + c / 2, bottom: b + d / 2 };
      break;
  }
  if (units === 'normalized') {
    box = {
      top: box.top * geometry.inputHeight,
      left: box.left * geometry.inputWidth,
      bottom: box.bottom * geometry.inputHeight,
      right: box.right * geometry.inputWidth,
    };
  }
  return box;
}

// NOTE: only separate box [N, K, 4] and score [N, K, C] or [N, K] tensors are read. Detectors
// that pack both into one [N, 4 + C, K] tensor (YOLOv8 exports) need another layout option.
export function decodeDetectionBoxes(context: DecodeContext): OutputData {
  const { manifest, geometry } = context;
  const output = manifest.output as DetectionOutputSpec;
  const boxes = readOutputSlice(context, output.tensor);
  const scores = readOutputSlice(context, output.scores_tensor);
  const boxCount = boxes.data.length / 4;
  const classCount = scores.data.length / boxCount;
  if (!Number.isInteger(boxCount) || classCount !== manifest.concepts.length) {
    throw new Error(
      `Model ${manifest.id}: boxes [${boxes.dims.join(', ')}] and scores [${scores.dims.join(', ')}] do not ` +
        `match [N, K, 4] and [N, K, ${manifest.concepts.length}] for the ${manifest.concepts.length} concepts.`,
    );
  }

  const byClass = new Map<number, Detection[]>();
  for (let k = 0; k < boxCount; k++) {
    let classIndex = 0;
    let score = -Infinity;
    for (let c = 0; c < classCount; c++) {
      const value = scores.data[k * classCount + c] ?? -Infinity;
      if (value > score) {
        score = value;
        classIndex = c;
      }
    }
    if (score < output.score_threshold) {
      continue;
    }
    const box = toInputPixels(boxes.data.subarray(k * 4, k * 4 + 4), output.box_format, output.box_units, geometry);
    const detections = byClass.get(classIndex) ?? [];
    detections.push({ box, score, classIndex });
    byClass.set(classIndex, detections);
  }

  const kept: Detection[] = [];
  for (const detections of byClass.values()) {
    const indices = nonMaxSuppression(
      detections.map((detection) => detection.box),
      detections.map((detection) => detection.score),
      output.iou_threshold,
    );
    kept.push(...indices.map((index) => detections[index] as Detection));
  }
  kept.sort((a, b) => b.score - a.score);

  const regions: Region[] = [];
  for (const detection of kept) {
    if (regions.length >= output.max_detections) {
      break;
    }
    const boundingBox = toBoundingBox(detection.box, geometry);
    // Boxes entirely in the letterbox padding or outside the input collapse to zero area.
    if (boundingBox.bottom_row <= boundingBox.top_row || boundingBox.right_col <= boundingBox.left_col) {
      continue;
    }
    const concept = manifest.concepts[detection.classIndex] as { id: string; name: string };
    regions.push({
      id: regionId(manifest.id, regions.length, boundingBox),
      region_info: { bounding_box: boundingBox },
      value: detection.score,
      data: { concepts: [{ id: concept.id, name: concept.name, value: detection.score }] },
    });
  }
  return { regions };
}
