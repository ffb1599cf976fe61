import { describe, expect, it } from 'vitest';
import { calibrateThreshold } from '#commons/classifier/calibration.ts';
import { crossValidate } from '#commons/classifier/metrics.ts';
import { type TrainingExample, l2Normalize } from '#commons/classifier/train.ts';

// Scores are multiples of 1/16, so every threshold (a midpoint of two scores) is exact.
// High to low: positive, positive, negative, positive, negative, positive, negative, negative.
const scored = [
  { score: 0.9375, positive: true },
  { score: 0.875, positive: true },
  { score: 0.75, positive: false },
  { score: 0.625, positive: true },
  { score: 0.5, positive: false },
  { score: 0.375, positive: true },
  { score: 0.25, positive: false },
  { score: 0.125, positive: false },
];

describe('calibrateThreshold', () => {
  it('picks the best F1 without a target', () => {
    // At 0.375: 4 of 6 predicted are positive, recall 1, F1 0.8, the best of all cuts.
    expect(calibrateThreshold('cat', scored)).toEqual({
      concept_id: 'cat',
      threshold: 0.3125,
      precision: 4 / 6,
      recall: 1,
      method: 'best_f1',
    });
  });

  it('reaches a target precision', () => {
    // 0.875 keeps 2 of 2 positive, 0.625 keeps 3 of 4 (precision 0.75).
    expect(calibrateThreshold('cat', scored, 0.75)).toEqual({
      concept_id: 'cat',
      threshold: 0.5625,
      precision: 0.75,
      recall: 0.75,
      target_precision: 0.75,
      method: 'target_precision',
    });
    expect(calibrateThreshold('cat', scored, 1)).toEqual({
      concept_id: 'cat',
      threshold: 0.8125,
      precision: 1,
      recall: 0.5,
      target_precision: 1,
      method: 'target_precision',
    });
  });

  it('falls back to best F1 below the target', () => {
    const noisy = [
      { score: 0.75, positive: false },
      { score: 0.5, positive: true },
      { score: 0.25, positive: false },
    ];

    expect(calibrateThreshold('cat', noisy, 0.9)).toEqual({
      concept_id: 'cat',
      threshold: 0.375,
      precision: 0.5,
      recall: 1,
      target_precision: 0.9,
      method: 'best_f1',
    });
  });

  it('keeps the lowest score as threshold', () => {
    const onlyPositives = [
      { score: 0.75, positive: true },
      { score: 0.5, positive: true },
    ];

    expect(calibrateThreshold('cat', onlyPositives)?.threshold).toBe(0.5);
  });

  it('treats tied scores as one cut', () => {
    const tied = [
      { score: 0.75, positive: true },
      { score: 0.5, positive: true },
      { score: 0.5, positive: false },
      { score: 0.25, positive: false },
    ];

    // The cut at 0.5 keeps both tied scores: precision 2/3, recall 1, F1 0.8 beats 0.667 at 0.75.
    expect(calibrateThreshold('cat', tied)).toMatchObject({ threshold: 0.375, precision: 2 / 3, recall: 1 });
  });

  it('returns undefined without positives', () => {
    expect(calibrateThreshold('cat', [{ score: 0.5, positive: false }])).toBeUndefined();
  });
});

describe('crossValidate calibration', () => {
  // Two well separated groups along the first axes, 6 examples each.
  const examples: TrainingExample[] = Array.from({ length: 12 }, (_, index) => {
    const red = index < 6;
    const vector = l2Normalize([red ? 1 : 0.1, red ? 0.1 : 1, (index % 3) * 0.05]);
    return { vector, positives: new Set([red ? 'red' : 'blue']), negatives: new Set([red ? 'blue' : 'red']) };
  });

  it('calibrates every concept', () => {
    const metrics = crossValidate(['red', 'blue'], examples, 3, {}, 0.9);

    const thresholds = metrics?.calibrated_thresholds ?? [];
    expect(thresholds.map((threshold) => threshold.concept_id)).toEqual(['red', 'blue']);
    for (const threshold of thresholds) {
      expect(threshold.method).toBe('target_precision');
      expect(threshold.target_precision).toBe(0.9);
      expect(threshold.precision).toBe(1);
      expect(threshold.recall).toBe(1);
      expect(threshold.threshold).toBeGreaterThan(0);
      expect(threshold.threshold).toBeLessThan(1);
    }
  });
});
