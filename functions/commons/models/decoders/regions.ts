/** Steps shared by the object detector decoders: per-class suppression and Clarifai regions. */
import type { Region } from '#commons/clarifai/types.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';
import { type Box, nonMaxSuppression } from '#commons/models/decoders/nms.ts';
import { type InputGeometry, regionId, toBoundingBox } from '#commons/models/decoders/types.ts';

/** One candidate box in model-input pixels, with its best class. */
export interface Detection {
  box: Box;
  score: number;
  /** Index into the manifest's `concepts`. */
  classIndex: number;
}

/**
 * Runs non-maximum suppression separately for each class, so overlapping boxes of different
 * classes (a person on a horse) both stay. Returns the kept detections, best first.
 */
export function suppressPerClass(detections: readonly Detection[], iouThreshold: number): Detection[] {
  const byClass = new Map<number, Detection[]>();
  for (const detection of detections) {
    const group = byClass.get(detection.classIndex) ?? [];
    group.push(detection);
    byClass.set(detection.classIndex, group);
  }

  const kept: Detection[] = [];
  for (const group of byClass.values()) {
    const indices = nonMaxSuppression(
      group.map((detection) => detection.box),
      group.map((detection) => detection.score),
      iouThreshold,
    );
    kept.push(...indices.map((index) => group[index] as Detection));
  }
  return kept.sort((a, b) => b.score - a.score);
}

/**
 * Turns detections (best first) into at most `maxDetections` regions with boxes in fractions
 * of the original image. Boxes that lie entirely in the letterbox padding or outside the
 * input collapse to zero area once clamped, and are dropped.
 */
export function toRegions(
  manifest: ModelManifest,
  geometry: InputGeometry,
  detections: readonly Detection[],
  maxDetections: number,
): Region[] {
  const regions: Region[] = [];
  for (const detection of detections) {
    if (regions.length >= maxDetections) {
      break;
    }
    const boundingBox = toBoundingBox(detection.box, geometry);
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
  return regions;
}
