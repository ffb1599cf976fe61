/**
 * Decoder for object detectors whose graph already picks its top K candidates and outputs one
 * row per candidate, as CenterNet exports do. Keeps rows above the score threshold, runs
 * non-maximum suppression per class and maps boxes to the image.
 */
import type { OutputData } from '#commons/clarifai/types.ts';
import type { TopKDetectionOutputSpec } from '#commons/models/manifest.ts';
import { toInputPixels } from '#commons/models/decoders/detection-boxes.ts';
import { type Detection, suppressPerClass, toRegions } from '#commons/models/decoders/regions.ts';
import { type DecodeContext, readOutputSlice } from '#commons/models/decoders/types.ts';

/** Values in one row: 4 box coordinates, the score, then the class index. */
const ROW_LENGTH = 6;

export function decodeTopKDetections(context: DecodeContext): OutputData {
  const { manifest, geometry } = context;
  const output = manifest.output as TopKDetectionOutputSpec;
  const { data, dims } = readOutputSlice(context, output.tensor);
  if (dims.at(-1) !== ROW_LENGTH) {
    throw new Error(
      `Output "${output.tensor}" of model ${manifest.id} has shape [${dims.join(', ')}], expected [N, K, 6] ` +
        'rows of box, score and class index.',
    );
  }

  const classOffset = output.class_offset ?? 0;
  const candidates: Detection[] = [];
  for (let start = 0; start < data.length; start += ROW_LENGTH) {
    const score = data[start + 4] ?? 0;
    const classValue = data[start + 5] ?? NaN;
    // Graphs pad unused rows with zero scores, and some fill their class with NaN.
    if (!(score >= output.score_threshold) || Number.isNaN(classValue)) {
      continue;
    }
    const classIndex = Math.round(classValue) - classOffset;
    if (classIndex < 0 || classIndex >= manifest.concepts.length) {
      throw new Error(
        `Model ${manifest.id} returned class ${classValue}, outside the ${manifest.concepts.length} concepts of ` +
          `its manifest (class_offset ${classOffset}). Fix the concepts or class_offset.`,
      );
    }
    const box = toInputPixels(data.subarray(start, start + 4), output.box_format, output.box_units, geometry);
    candidates.push({ box, score, classIndex });
  }

  const kept = suppressPerClass(candidates, output.iou_threshold);
  return { regions: toRegions(manifest, geometry, kept, output.max_detections) };
}
