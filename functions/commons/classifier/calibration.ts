/**
 * Per-concept decision thresholds calibrated on out-of-fold scores: the threshold that
 * reaches a requested precision with the highest recall, or else the one with the best F1.
 * A concept is predicted when its score is greater than or equal to its threshold.
 */

/** A held-out score of one example for one concept, and whether the example is a positive. */
export interface ScoredExample {
  score: number;
  positive: boolean;
}

export interface CalibratedThreshold {
  concept_id: string;
  threshold: number;
  /** Precision and recall of `score >= threshold` on the out-of-fold scores. */
  precision: number;
  recall: number;
  /** The precision requested at training, when one was. */
  target_precision?: number;
  /** `target_precision` when the threshold reaches the requested precision, else `best_f1`. */
  method: 'target_precision' | 'best_f1';
}

interface Candidate {
  score: number;
  /** The next lower distinct score, when there is one. */
  below?: number;
  precision: number;
  recall: number;
  f1: number;
}

// Tolerance on the precision comparison, so that 9 / 10 counts as reaching 0.9.
const PRECISION_TOLERANCE = 1e-9;

/**
 * Returns the calibrated threshold of one concept, or undefined when the scores have no
 * positive example. With `targetPrecision`, the threshold is the lowest score whose
 * precision reaches it, which has the highest recall among those that do. Without one, or
 * when no score reaches it, it is the score with the best F1 (the higher score on a tie).
 * The threshold returned lies halfway between that score and the next lower one, which
 * classifies the given scores the same way and leaves a margin on both sides.
 */
export function calibrateThreshold(
  conceptId: string,
  scored: readonly ScoredExample[],
  targetPrecision?: number,
): CalibratedThreshold | undefined {
  const candidates = candidatesOf(scored);
  if (candidates.length === 0) {
    return undefined;
  }

  const reaching =
    targetPrecision === undefined
      ? []
      : candidates.filter((candidate) => candidate.precision >= targetPrecision - PRECISION_TOLERANCE);
  const lowestReaching = reaching.at(-1);
  let chosen: Candidate;
  let method: CalibratedThreshold['method'];
  if (lowestReaching === undefined) {
    chosen = candidates.reduce((best, candidate) => (candidate.f1 > best.f1 ? candidate : best));
    method = 'best_f1';
  } else {
    chosen = lowestReaching;
    method = 'target_precision';
  }

  return {
    concept_id: conceptId,
    threshold: chosen.below === undefined ? chosen.score : (chosen.score + chosen.below) / 2,
    precision: chosen.precision,
    recall: chosen.recall,
    ...(targetPrecision === undefined ? {} : { target_precision: targetPrecision }),
    method,
  };
}

// Every distinct score that predicts at least one positive, highest first, with the
// precision, recall and F1 of `score >= candidate`. One pass over the scores sorted high to low.
function candidatesOf(scored: readonly ScoredExample[]): Candidate[] {
  const positives = scored.filter((item) => item.positive).length;
  if (positives === 0) {
    return [];
  }
  const sorted = [...scored].sort((a, b) => b.score - a.score);
  const candidates: Candidate[] = [];
  let truePositives = 0;
  let predicted = 0;
  let index = 0;
  while (index < sorted.length) {
    const score = (sorted[index] as ScoredExample).score;
    while (index < sorted.length && (sorted[index] as ScoredExample).score === score) {
      truePositives += (sorted[index] as ScoredExample).positive ? 1 : 0;
      predicted += 1;
      index += 1;
    }
    const previous = candidates.at(-1);
    if (previous !== undefined) {
      previous.below = score;
    }
    if (truePositives === 0) {
      continue;
    }
    const precision = truePositives / predicted;
    const recall = truePositives / positives;
    candidates.push({ score, precision, recall, f1: (2 * precision * recall) / (precision + recall) });
  }
  return candidates;
}
