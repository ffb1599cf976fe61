/**
 * One-vs-rest training of linear concept scorers on image embeddings, in plain TypeScript.
 * Every concept gets `score(x) = sigmoid(w · x + b)` on the L2-normalized embedding `x`:
 * logistic regression when the concept has enough examples on both sides, otherwise a
 * nearest-centroid rule written in the same linear form.
 */

/** A training example: an L2-normalized embedding and the concepts it is a positive or negative example of. */
export interface TrainingExample {
  vector: readonly number[];
  positives: ReadonlySet<string>;
  negatives: ReadonlySet<string>;
}

/** Fitting method of a concept's weights. */
export type ScorerMode = 'logistic' | 'centroid';

/** The linear scorer of one concept. */
export interface ConceptScorer {
  conceptId: string;
  mode: ScorerMode;
  weights: number[];
  bias: number;
  positiveCount: number;
  negativeCount: number;
}

export interface TrainOptions {
  /** Fewer positive or negative examples than this switch a concept to the nearest-centroid rule. @default 3 */
  minExamplesPerSide?: number;
  /** Gradient descent steps of the logistic regression. @default 400 */
  iterations?: number;
  /** Step size on standardized features. @default 0.5 */
  learningRate?: number;
  /** L2 penalty on the weights, per example. @default 0.01 */
  l2?: number;
}

// Slope of the centroid rule's sigmoid. A difference of 0.05 between the squared distances to
// the two centroids gives a score of 0.82. NOTE: the value is chosen, not tuned on data.
const CENTROID_SCALE = 30;

export function l2Normalize(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  return norm === 0 ? [...vector] : vector.map((value) => value / norm);
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function scoreWith(scorer: ConceptScorer, vector: readonly number[]): number {
  let z = scorer.bias;
  scorer.weights.forEach((weight, index) => {
    z += weight * (vector[index] ?? 0);
  });
  return sigmoid(z);
}

/**
 * Fits one scorer per concept. An example is a negative of concept `c` when it is labelled
 * with value 0 for `c`, or positive for another concept of the model and not for `c`.
 * The caller checks that every concept has a positive example.
 */
export function trainScorers(
  conceptIds: readonly string[],
  examples: readonly TrainingExample[],
  options: TrainOptions = {},
): ConceptScorer[] {
  const minExamples = options.minExamplesPerSide ?? 3;
  return conceptIds.map((conceptId) => {
    const positives = examples.filter((example) => example.positives.has(conceptId)).map((example) => example.vector);
    const negatives = examples
      .filter((example) => !example.positives.has(conceptId))
      .filter((example) => example.negatives.has(conceptId) || example.positives.size > 0)
      .map((example) => example.vector);
    const counts = { positiveCount: positives.length, negativeCount: negatives.length };
    if (positives.length < minExamples || negatives.length < minExamples) {
      return { conceptId, mode: 'centroid', ...centroidScorer(positives, negatives), ...counts };
    }
    return { conceptId, mode: 'logistic', ...logisticScorer(positives, negatives, options), ...counts };
  });
}

function mean(vectors: ReadonlyArray<readonly number[]>, dimensions: number): number[] {
  const sum = new Array<number>(dimensions).fill(0);
  for (const vector of vectors) {
    vector.forEach((value, index) => {
      sum[index] = (sum[index] ?? 0) + value;
    });
  }
  return sum.map((value) => value / Math.max(vectors.length, 1));
}

const dot = (a: readonly number[], b: readonly number[]): number =>
  a.reduce((sum, value, index) => sum + value * (b[index] ?? 0), 0);

/**
 * Nearest centroid as a linear rule: `|x - n|² - |x - p|² = 2 x · (p - n) - (|p|² - |n|²)`,
 * positive when `x` is nearer the positive centroid `p`. With no negatives the rule compares
 * the cosine similarity to `p` with the lowest one among the positives, less a margin of 0.05.
 */
function centroidScorer(
  positives: ReadonlyArray<readonly number[]>,
  negatives: ReadonlyArray<readonly number[]>,
): { weights: number[]; bias: number } {
  const dimensions = positives[0]?.length ?? negatives[0]?.length ?? 0;
  const positive = mean(positives, dimensions);
  if (negatives.length === 0) {
    const direction = l2Normalize(positive);
    const threshold = Math.min(...positives.map((vector) => dot(vector, direction))) - 0.05;
    return { weights: direction.map((value) => CENTROID_SCALE * value), bias: -CENTROID_SCALE * threshold };
  }
  const negative = mean(negatives, dimensions);
  return {
    weights: positive.map((value, index) => CENTROID_SCALE * 2 * (value - (negative[index] ?? 0))),
    bias: -CENTROID_SCALE * (dot(positive, positive) - dot(negative, negative)),
  };
}

/**
 * Logistic regression by full-batch gradient descent on standardized features, with the
 * classes weighted to equal total weight. The standardization is folded back into the
 * weights and bias, so the scorer takes the normalized embedding as it is.
 */
function logisticScorer(
  positives: ReadonlyArray<readonly number[]>,
  negatives: ReadonlyArray<readonly number[]>,
  options: TrainOptions,
): { weights: number[]; bias: number } {
  const iterations = options.iterations ?? 400;
  const learningRate = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 0.01;
  const all = [...positives, ...negatives];
  const dimensions = all[0]?.length ?? 0;
  const center = mean(all, dimensions);
  const spread = center.map((centerValue, index) => {
    const variance = all.reduce((sum, vector) => sum + ((vector[index] ?? 0) - centerValue) ** 2, 0) / all.length;
    return Math.sqrt(variance) + 1e-6;
  });
  // One flat row-major matrix and plain loops: this loop is where training spends its time.
  const rows = new Float64Array(all.length * dimensions);
  all.forEach((vector, row) => {
    for (let index = 0; index < dimensions; index += 1) {
      rows[row * dimensions + index] = ((vector[index] ?? 0) - (center[index] ?? 0)) / (spread[index] ?? 1);
    }
  });
  const sampleWeights = all.map((_, row) => (row < positives.length ? 0.5 / positives.length : 0.5 / negatives.length));

  const weights = new Float64Array(dimensions);
  const gradient = new Float64Array(dimensions);
  let bias = 0;
  for (let step = 0; step < iterations; step += 1) {
    for (let index = 0; index < dimensions; index += 1) {
      gradient[index] = l2 * (weights[index] as number);
    }
    let biasGradient = 0;
    for (let row = 0; row < all.length; row += 1) {
      const offset = row * dimensions;
      let z = bias;
      for (let index = 0; index < dimensions; index += 1) {
        z += (weights[index] as number) * (rows[offset + index] as number);
      }
      const label = row < positives.length ? 1 : 0;
      const error = (sigmoid(z) - label) * (sampleWeights[row] as number);
      for (let index = 0; index < dimensions; index += 1) {
        gradient[index] = (gradient[index] as number) + error * (rows[offset + index] as number);
      }
      biasGradient += error;
    }
    for (let index = 0; index < dimensions; index += 1) {
      weights[index] = (weights[index] as number) - learningRate * (gradient[index] as number);
    }
    bias -= learningRate * biasGradient;
  }

  const rawWeights = Array.from(weights, (weight, index) => weight / (spread[index] ?? 1));
  return { weights: rawWeights, bias: bias - dot(rawWeights, center) };
}
