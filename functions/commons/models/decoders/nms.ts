/** Axis-aligned boxes and greedy non-maximum suppression. */

/** A box in any unit, with `top < bottom` and `left < right`. */
export interface Box {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

function area(box: Box): number {
  return Math.max(0, box.bottom - box.top) * Math.max(0, box.right - box.left);
}

/** Returns the intersection over union of two boxes, 0 when either has no area. */
export function intersectionOverUnion(a: Box, b: Box): number {
  const height = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  const width = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  if (height <= 0 || width <= 0) {
    return 0;
  }
  const intersection = height * width;
  const union = area(a) + area(b) - intersection;
  return union > 0 ? intersection / union : 0;
}

/**
 * Greedy non-maximum suppression: visits boxes by descending score and keeps a box unless it
 * overlaps an already kept one with IoU above `iouThreshold`. Returns the kept indices, best
 * first, at most `maxOutput` of them.
 */
export function nonMaxSuppression(
  boxes: readonly Box[],
  scores: readonly number[],
  iouThreshold: number,
  maxOutput = Infinity,
): number[] {
  if (boxes.length !== scores.length) {
    throw new RangeError(`nonMaxSuppression needs one score per box: got ${boxes.length} boxes and ${scores.length} scores.`);
  }
  const order = boxes.map((_, index) => index).sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));
  const kept: number[] = [];
  for (const index of order) {
    if (kept.length >= maxOutput) {
      break;
    }
    const box = boxes[index] as Box;
    const overlaps = kept.some((keptIndex) => intersectionOverUnion(box, boxes[keptIndex] as Box) > iouThreshold);
    if (!overlaps) {
      kept.push(index);
    }
  }
  return kept;
}
