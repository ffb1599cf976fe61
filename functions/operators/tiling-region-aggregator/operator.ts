/**
 * Tiling region aggregator: follows an image tiler and a detector that ran on each tile, and
 * removes the duplicates that overlapping tiles produce, with non-maximum suppression per
 * concept. As in Clarifai's aggregator, only the top concept of each detection is considered
 * and kept.
 *
 * The engine merges the detector's per-tile outputs into one output before this node runs:
 * the detections are already in image coordinates, and a tile without detections appears as
 * a region with no concepts, which is skipped here.
 */
import type { Concept, Region } from '#commons/clarifai/types.ts';
import { type Box, nonMaxSuppression } from '#commons/models/decoders/nms.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { toBox } from '../shared/geometry.ts';
import { ParamReader } from '../shared/params.ts';
import { ranUpstream } from '../shared/upstream.ts';

export const OVERLAP_METRICS = ['IOU', 'IOS'] as const;

export interface TilingAggregatorParams {
  /** Two detections of one concept overlapping more than this are duplicates. */
  overlapThreshold: number;
  /**
   * IOU: intersection over union, classic NMS. IOS: intersection over the smaller box, which
   * also removes the partial detection of an object that a tile edge cut off.
   */
  overlapMetric: (typeof OVERLAP_METRICS)[number];
}

interface Candidate {
  region: Region;
  box: Box;
  score: number;
}

function topConcept(region: Region): Concept | undefined {
  return region.data.concepts.reduce<Concept | undefined>((best, concept) => (best === undefined || concept.value > best.value ? concept : best), undefined);
}

function intersectionOverSmaller(a: Box, b: Box): number {
  const height = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  const width = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const smaller = Math.min((a.bottom - a.top) * (a.right - a.left), (b.bottom - b.top) * (b.right - b.left));
  return height > 0 && width > 0 && smaller > 0 ? (height * width) / smaller : 0;
}

/** Returns the indices of the candidates to keep, best first. */
function suppress(candidates: readonly Candidate[], params: TilingAggregatorParams): number[] {
  const boxes = candidates.map((candidate) => candidate.box);
  const scores = candidates.map((candidate) => candidate.score);
  if (params.overlapMetric === 'IOU') {
    return nonMaxSuppression(boxes, scores, params.overlapThreshold);
  }
  // The same greedy pass as nonMaxSuppression, with intersection over the smaller box.
  const order = boxes.map((_, index) => index).sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));
  const kept: number[] = [];
  for (const index of order) {
    const box = boxes[index] as Box;
    if (!kept.some((keptIndex) => intersectionOverSmaller(box, boxes[keptIndex] as Box) > params.overlapThreshold)) {
      kept.push(index);
    }
  }
  return kept;
}

/**
 * Removes duplicate detections per top concept. Returns the kept regions, best score first,
 * each with its top concept only; regions without concepts are left out.
 */
export function aggregateRegions(regions: readonly Region[], params: TilingAggregatorParams): Region[] {
  const byConcept = new Map<string, Candidate[]>();
  for (const detection of regions) {
    const concept = topConcept(detection);
    if (concept === undefined) {
      continue;
    }
    const score = detection.value ?? concept.value;
    const region: Region = { ...detection, value: score, data: { ...detection.data, concepts: [concept] } };
    const candidates = byConcept.get(concept.id) ?? [];
    candidates.push({ region, box: toBox(detection.region_info.bounding_box), score });
    byConcept.set(concept.id, candidates);
  }

  const kept: Candidate[] = [];
  for (const candidates of byConcept.values()) {
    kept.push(...suppress(candidates, params).map((index) => candidates[index] as Candidate));
  }
  return kept.sort((a, b) => b.score - a.score).map((candidate) => candidate.region);
}

// NOTE: Clarifai does not document its aggregator's threshold; 0.5 is the IoU threshold
// that the shipped text detector uses for its own NMS (iou_threshold in its manifest).
const DEFAULT_OVERLAP_THRESHOLD = 0.5;

export const tilingRegionAggregator: Operator<TilingAggregatorParams> = {
  typeId: 'tiling-region-aggregator',
  description:
    'Removes the duplicate detections that a detector run on overlapping tiles returns, with non-maximum suppression per concept.',
  inputKinds: ['regions'],
  outputKind: 'regions',
  // Runs once per input on the merged per-tile detections, not once per tile.
  aggregatesCrops: true,

  validateParams(raw) {
    const params = new ParamReader('tiling-region-aggregator', raw);
    const overlapThreshold = params.number(
      'overlap_threshold',
      DEFAULT_OVERLAP_THRESHOLD,
      { min: 0, max: 1 },
      'the overlap above which two detections of a concept count as one',
    );
    const overlapMetric = params.choice('overlap_metric', 'IOU', OVERLAP_METRICS, 'intersection over union, or over the smaller box');
    params.rejectUnknownKeys();
    return { overlapThreshold, overlapMetric };
  },

  async run(event, params) {
    const regions = ranUpstream(event).flatMap((output) => output.data.regions ?? []);
    return outputOf(event, { data: { regions: aggregateRegions(regions, params) } });
  },
};
