/**
 * Decoder for object detectors whose graph outputs raw boxes and class scores: keeps boxes above
 * the score threshold, runs non-maximum suppression per class and maps boxes to the image.
 */
import type { OutputData } from '#commons/clarifai/types.ts';
import type { DetectionOutputSpec } from '#commons/models/manifest.ts';
import type { Box } from '#commons/models/decoders/nms.ts';
import { type Detection, suppressPerClass, toRegions } from '#commons/models/decoders/regions.ts';
import { type DecodeContext, type InputGeometry, readOutputSlice } from '#commons/models/decoders/types.ts';

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

  const candidates: Detection[] = [];
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
    candidates.push({ box, score, classIndex });
  }

  const kept = suppressPerClass(candidates, output.iou_threshold);
  const regions = toRegions(manifest, geometry, kept, output.max_detections);
  return { regions };
}
