/**
 * Stratified k-fold cross-validation of the one-vs-rest scorers: per concept precision,
 * recall and F1 at a score of 0.5, ROC AUC, macro averages, top-1 accuracy and a confusion
 * matrix of the top-scored concept. The same out-of-fold scores calibrate each concept's
 * decision threshold.
 */
import { type CalibratedThreshold, type ScoredExample, calibrateThreshold } from '#commons/classifier/calibration.ts';
import { type TrainOptions, type TrainingExample, scoreWith, trainScorers } from '#commons/classifier/train.ts';

export interface ConceptMetrics {
  concept_id: string;
  precision: number;
  recall: number;
  f1: number;
  /** Undefined when the held-out scores have no positive or no negative example. */
  roc_auc?: number;
  positives: number;
  negatives: number;
  /** Detectors only: the area under the concept's precision-recall curve of boxes matched at `iou_threshold`. */
  average_precision?: number;
}

export interface ClassifierMetrics {
  folds: number;
  per_concept: ConceptMetrics[];
  macro: { precision: number; recall: number; f1: number; roc_auc?: number };
  /** Share of the examples with exactly one positive concept whose top-scored concept is that one. */
  top1_accuracy: number;
  /** `matrix[i][j]` counts examples of concept `labels[i]` whose top-scored concept was `labels[j]`. */
  confusion_matrix: { labels: string[]; matrix: number[][] };
  /** One threshold per concept, in the order of the concepts. Absent from versions trained before calibration existed. */
  calibrated_thresholds?: CalibratedThreshold[];
  /** Detectors only: the mean of the concepts' `average_precision`. */
  mean_average_precision?: number;
  /** Detectors only: the IoU at which a predicted box matches a labelled one. */
  iou_threshold?: number;
}

export const DEFAULT_FOLDS = 5;

/**
 * Cross-validates with `min(folds, fewest positives of a concept)` folds. Returns undefined
 * when a concept has fewer than 2 positive examples, because no split can then hold one out
 * and still train on one. `targetPrecision` is the precision that the calibrated thresholds
 * aim for (see `calibrateThreshold`).
 */
export function crossValidate(
  conceptIds: readonly string[],
  examples: readonly TrainingExample[],
  folds = DEFAULT_FOLDS,
  options: TrainOptions = {},
  targetPrecision?: number,
): ClassifierMetrics | undefined {
  const fewestPositives = Math.min(
    ...conceptIds.map((conceptId) => examples.filter((example) => example.positives.has(conceptId)).length),
  );
  const k = Math.min(folds, fewestPositives);
  if (k < 2) {
    return undefined;
  }

  const foldOf = stratifiedFolds(conceptIds, examples, k);
  const scores: number[][] = examples.map(() => []);
  for (let fold = 0; fold < k; fold += 1) {
    const training = examples.filter((_, index) => foldOf[index] !== fold);
    const scorers = trainScorers(conceptIds, training, options);
    examples.forEach((example, index) => {
      if (foldOf[index] === fold) {
        scores[index] = scorers.map((scorer) => scoreWith(scorer, example.vector));
      }
    });
  }

  const scoredByConcept = conceptIds.map((conceptId, conceptIndex) => scoredOf(conceptId, conceptIndex, examples, scores));
  const perConcept = conceptIds.map((conceptId, conceptIndex) => conceptMetrics(conceptId, scoredByConcept[conceptIndex] ?? []));
  const calibrated = conceptIds.flatMap((conceptId, conceptIndex) => {
    const threshold = calibrateThreshold(conceptId, scoredByConcept[conceptIndex] ?? [], targetPrecision);
    return threshold === undefined ? [] : [threshold];
  });
  const aucs = perConcept.flatMap((metrics) => (metrics.roc_auc === undefined ? [] : [metrics.roc_auc]));
  const average = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / Math.max(values.length, 1);
  const matrix = conceptIds.map(() => conceptIds.map(() => 0));
  let singleLabelled = 0;
  let correct = 0;
  examples.forEach((example, index) => {
    const truth = conceptIds.filter((conceptId) => example.positives.has(conceptId));
    const exampleScores = scores[index] ?? [];
    if (truth.length !== 1 || exampleScores.length === 0) {
      return;
    }
    const trueIndex = conceptIds.indexOf(truth[0] as string);
    const predicted = exampleScores.indexOf(Math.max(...exampleScores));
    singleLabelled += 1;
    correct += predicted === trueIndex ? 1 : 0;
    const row = matrix[trueIndex] as number[];
    row[predicted] = (row[predicted] ?? 0) + 1;
  });

  return {
    folds: k,
    per_concept: perConcept,
    macro: {
      precision: average(perConcept.map((metrics) => metrics.precision)),
      recall: average(perConcept.map((metrics) => metrics.recall)),
      f1: average(perConcept.map((metrics) => metrics.f1)),
      ...(aucs.length === perConcept.length ? { roc_auc: average(aucs) } : {}),
    },
    top1_accuracy: singleLabelled === 0 ? 0 : correct / singleLabelled,
    confusion_matrix: { labels: [...conceptIds], matrix },
    calibrated_thresholds: calibrated,
  };
}

// Each example is stratified by its first positive concept (or as unlabelled) and dealt
// round-robin into the folds, so every fold gets a share of every concept.
function stratifiedFolds(conceptIds: readonly string[], examples: readonly TrainingExample[], k: number): number[] {
  const dealt = new Map<string, number>();
  return examples.map((example) => {
    const stratum = conceptIds.find((conceptId) => example.positives.has(conceptId)) ?? '';
    const count = dealt.get(stratum) ?? 0;
    dealt.set(stratum, count + 1);
    return count % k;
  });
}

// The held-out scores of one concept over its positive and negative examples (negatives as `trainScorers` defines them).
function scoredOf(
  conceptId: string,
  conceptIndex: number,
  examples: readonly TrainingExample[],
  scores: readonly number[][],
): ScoredExample[] {
  const scored: ScoredExample[] = [];
  examples.forEach((example, index) => {
    const score = scores[index]?.[conceptIndex];
    const positive = example.positives.has(conceptId);
    const negative = !positive && (example.negatives.has(conceptId) || example.positives.size > 0);
    if (score !== undefined && (positive || negative)) {
      scored.push({ score, positive });
    }
  });
  return scored;
}

function conceptMetrics(conceptId: string, scored: readonly ScoredExample[]): ConceptMetrics {
  const truePositives = scored.filter((item) => item.positive && item.score >= 0.5).length;
  const falsePositives = scored.filter((item) => !item.positive && item.score >= 0.5).length;
  const positives = scored.filter((item) => item.positive).length;
  const precision = truePositives + falsePositives === 0 ? 0 : truePositives / (truePositives + falsePositives);
  const recall = positives === 0 ? 0 : truePositives / positives;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const rocAuc = rocAucOf(scored);
  return {
    concept_id: conceptId,
    precision,
    recall,
    f1,
    ...(rocAuc === undefined ? {} : { roc_auc: rocAuc }),
    positives,
    negatives: scored.length - positives,
  };
}

/** ROC AUC as the probability that a positive outscores a negative, ties counting one half. */
export function rocAucOf(scored: ReadonlyArray<{ score: number; positive: boolean }>): number | undefined {
  const positives = scored.filter((item) => item.positive).map((item) => item.score);
  const negatives = scored.filter((item) => !item.positive).map((item) => item.score);
  if (positives.length === 0 || negatives.length === 0) {
    return undefined;
  }
  let wins = 0;
  for (const positive of positives) {
    for (const negative of negatives) {
      if (positive > negative) {
        wins += 1;
      } else if (positive === negative) {
        wins += 0.5;
      }
    }
  }
  return wins / (positives.length * negatives.length);
}
