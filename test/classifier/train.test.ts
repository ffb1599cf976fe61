import { describe, expect, it } from 'vitest';
import { crossValidate, rocAucOf } from '#commons/classifier/metrics.ts';
import { type TrainingExample, l2Normalize, scoreWith, trainScorers } from '#commons/classifier/train.ts';

// Deterministic pseudo-random numbers (a linear congruential generator), so the data is fixed.
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const random = generator(7);
const CENTERS = { red: Array.from({ length: 16 }, () => random()), blue: Array.from({ length: 16 }, () => random()) };

function example(concept: 'red' | 'blue', noise = 0.6): TrainingExample {
  const other = concept === 'red' ? 'blue' : 'red';
  return {
    vector: l2Normalize(CENTERS[concept].map((value) => value + random() * noise)),
    positives: new Set([concept]),
    negatives: new Set([other]),
  };
}

const examples = [...Array.from({ length: 10 }, () => example('red')), ...Array.from({ length: 10 }, () => example('blue'))];

describe('trainScorers', () => {
  it('separates two clusters', () => {
    const [red, blue] = trainScorers(['red', 'blue'], examples);
    const newRed = example('red');
    const newBlue = example('blue');

    expect(red?.mode).toBe('logistic');
    expect([red?.positiveCount, red?.negativeCount]).toEqual([10, 10]);
    expect(scoreWith(red!, newRed.vector)).toBeGreaterThan(0.5);
    expect(scoreWith(red!, newBlue.vector)).toBeLessThan(0.5);
    expect(scoreWith(blue!, newBlue.vector)).toBeGreaterThan(0.5);
  });

  it('uses centroids below three examples', () => {
    const few = [example('red'), example('red'), ...Array.from({ length: 5 }, () => example('blue'))];

    const [red, blue] = trainScorers(['red', 'blue'], few);

    expect(red?.mode).toBe('centroid');
    expect(blue?.mode).toBe('centroid');
    expect(scoreWith(red!, example('red').vector)).toBeGreaterThan(scoreWith(red!, example('blue').vector));
  });

  it('scores positives high without negatives', () => {
    const onlyRed = [example('red'), example('red')].map((item) => ({ ...item, negatives: new Set<string>() }));

    const [red] = trainScorers(['red'], onlyRed);

    expect(red?.mode).toBe('centroid');
    expect(red?.negativeCount).toBe(0);
    expect(scoreWith(red!, onlyRed[0]!.vector)).toBeGreaterThan(0.5);
  });
});

describe('crossValidate', () => {
  it('reports per concept and macro metrics', () => {
    const metrics = crossValidate(['red', 'blue'], examples);

    expect(metrics?.folds).toBe(5);
    expect(metrics?.per_concept.map((concept) => [concept.concept_id, concept.positives, concept.negatives])).toEqual([
      ['red', 10, 10],
      ['blue', 10, 10],
    ]);
    expect(metrics?.top1_accuracy).toBe(1);
    expect(metrics?.macro.f1).toBe(1);
    expect(metrics?.confusion_matrix).toEqual({ labels: ['red', 'blue'], matrix: [[10, 0], [0, 10]] });
  });

  it('skips a concept with one positive', () => {
    expect(crossValidate(['red', 'blue'], [example('red'), ...examples.slice(10)])).toBeUndefined();
  });
});

describe('rocAucOf', () => {
  it('counts ties as one half', () => {
    const scored = [
      { score: 0.9, positive: true },
      { score: 0.4, positive: true },
      { score: 0.4, positive: false },
      { score: 0.1, positive: false },
    ];

    expect(rocAucOf(scored)).toBe(0.875);
    expect(rocAucOf(scored.filter((item) => item.positive))).toBeUndefined();
  });
});
