import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { DecodedImage } from '#commons/image/types.ts';
import { decodeAnchorBoxes, generateAnchors } from '#commons/models/decoders/anchor-boxes.ts';
import { decodeBinaryConcepts, decodeBinnedConcepts } from '#commons/models/decoders/concepts.ts';
import { outputTensorNames } from '#commons/models/decoders/index.ts';
import { decodeTopKDetections } from '#commons/models/decoders/top-k-detections.ts';
import type { InputGeometry } from '#commons/models/decoders/types.ts';
import {
  InvalidManifestError,
  type ModelManifest,
  type OutputSpec,
  validateManifest,
} from '#commons/models/manifest.ts';
import { prepareInput } from '#commons/models/preprocess.ts';
import { classifierJson, classifierManifest } from '../models/fake-manifests.ts';

const SQUARE: InputGeometry = {
  inputWidth: 100,
  inputHeight: 100,
  contentLeft: 0,
  contentTop: 0,
  contentWidth: 100,
  contentHeight: 100,
};

function manifestWith(output: OutputSpec, concepts = classifierManifest().concepts): ModelManifest {
  const modelType = output.decoder.endsWith('concepts') ? 'visual-classifier' : 'visual-detector';
  return classifierManifest({ model_type_id: modelType, output, concepts });
}

function tensor(values: number[], dims: number[]): Tensor {
  return new Tensor('float32', Float32Array.from(values), dims);
}

function problemsOf(json: Record<string, unknown>): string[] {
  try {
    validateManifest(json, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidManifestError);
    return (error as InvalidManifestError).problems;
  }
  throw new Error('validateManifest accepted an invalid manifest');
}

describe('top-k-detections decoder', () => {
  const output: OutputSpec = {
    decoder: 'top-k-detections',
    tensor: 'detections',
    box_format: 'xyxy',
    box_units: 'pixels',
    score_threshold: 0.2,
    iou_threshold: 0.4,
    max_detections: 10,
  };

  it('maps rows through the letterbox', () => {
    const manifest = manifestWith(output);
    // A 100 x 50 image centred in the 100 x 100 input: rows 25 to 75 are the image.
    const geometry: InputGeometry = { ...SQUARE, contentTop: 25, contentHeight: 50 };
    const detections = tensor(
      [
        ...[10, 25, 50, 75, 0.9, 0], // cat: the left half, full height
        ...[12, 26, 52, 74, 0.6, 0], // cat again, overlapping: suppressed
        ...[12, 26, 52, 74, 0.5, 1], // dog at the same place: kept
        ...[60, 30, 90, 60, 0.1, 2], // bird below the score threshold
        ...[0, 0, 0, 0, 0.8, NaN], // a padded row without a class
      ],
      [1, 5, 6],
    );

    const data = decodeTopKDetections({ manifest, outputs: { detections }, batchIndex: 0, geometry });

    expect(data.regions?.map((region) => region.data.concepts[0]?.id)).toEqual(['cat', 'dog']);
    expect(data.regions?.[0]?.region_info.bounding_box).toEqual({
      top_row: 0,
      left_col: 0.1,
      bottom_row: 1,
      right_col: 0.5,
    });
    expect(data.regions?.[0]?.value).toBeCloseTo(0.9, 6);
  });

  it('applies class_offset', () => {
    const manifest = manifestWith({ ...output, class_offset: 1 });
    const detections = tensor([10, 10, 20, 20, 0.9, 2], [1, 1, 6]);

    const data = decodeTopKDetections({ manifest, outputs: { detections }, batchIndex: 0, geometry: SQUARE });

    expect(data.regions?.[0]?.data.concepts[0]?.id).toBe('dog');
  });

  it('rejects a class outside the concepts', () => {
    const manifest = manifestWith(output);
    const detections = tensor([10, 10, 20, 20, 0.9, 3], [1, 1, 6]);

    expect(() => decodeTopKDetections({ manifest, outputs: { detections }, batchIndex: 0, geometry: SQUARE })).toThrow(
      'Model test-classifier returned class 3, outside the 3 concepts of its manifest (class_offset 0). ' +
        'Fix the concepts or class_offset.',
    );
  });

  it('rejects rows of another length', () => {
    const manifest = manifestWith(output);
    const detections = tensor([10, 10, 20, 20, 0.9], [1, 1, 5]);

    expect(() => decodeTopKDetections({ manifest, outputs: { detections }, batchIndex: 0, geometry: SQUARE })).toThrow(
      'Output "detections" of model test-classifier has shape [1, 1, 5], expected [N, K, 6] rows of box, score ' +
        'and class index.',
    );
  });
});

describe('anchor-boxes decoder', () => {
  it('generates BlazeFace anchors', () => {
    const fine = generateAnchors({ stride: 16, anchors_per_cell: 2 }, 256, 256);
    const coarse = generateAnchors({ stride: 32, anchors_per_cell: 6 }, 256, 256);

    expect(fine.length + coarse.length).toBe(896);
    expect(fine.slice(0, 3)).toEqual([
      { x: 8, y: 8 },
      { x: 8, y: 8 },
      { x: 24, y: 8 },
    ]);
    expect(fine[32]).toEqual({ x: 8, y: 24 });
    expect(coarse[0]).toEqual({ x: 16, y: 16 });
    expect(coarse.at(-1)).toEqual({ x: 240, y: 240 });
  });

  // A 64 x 64 input: a 2 x 2 grid with one anchor per cell, then a 1 x 1 grid with two.
  const output: OutputSpec = {
    decoder: 'anchor-boxes',
    layers: [
      { tensor: 'fine_boxes', scores_tensor: 'fine_scores', stride: 32, anchors_per_cell: 1 },
      { tensor: 'coarse_boxes', scores_tensor: 'coarse_scores', stride: 64, anchors_per_cell: 2 },
    ],
    scores: 'logits',
    score_threshold: 0.5,
    iou_threshold: 0.3,
    max_detections: 10,
  };
  const face = [{ id: 'face', name: 'face' }];
  const geometry: InputGeometry = { ...SQUARE, inputWidth: 64, inputHeight: 64, contentWidth: 64, contentHeight: 64 };

  it('decodes boxes around their anchors', () => {
    const manifest = manifestWith(output, face);
    // Each regression: dx, dy, width, height, then one keypoint that the decoder ignores.
    const outputs = {
      fine_boxes: tensor([0, 0, 0, 0, 0, 0, ...[2, -4, 16, 24, 9, 9], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 4, 6]),
      fine_scores: tensor([-5, 3, -5, -5], [1, 4, 1]),
      coarse_boxes: tensor([0, 0, 48, 48, 0, 0, 1, 1, 40, 40, 0, 0], [1, 2, 6]),
      coarse_scores: tensor([-1, 2], [1, 2, 1]),
    };

    const data = decodeAnchorBoxes({ manifest, outputs, batchIndex: 0, geometry });

    // The top-right anchor sits at (48, 16): the box is centred at (50, 12), 16 x 24.
    const [first, second] = data.regions ?? [];
    expect(data.regions).toHaveLength(2);
    expect(first?.value).toBeCloseTo(1 / (1 + Math.exp(-3)), 6);
    expect(first?.region_info.bounding_box).toEqual({
      top_row: 0,
      left_col: 42 / 64,
      bottom_row: 24 / 64,
      right_col: 58 / 64,
    });
    // The second coarse anchor, at (32, 32): centred at (33, 33), 40 x 40.
    expect(second?.value).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(second?.region_info.bounding_box).toEqual({
      top_row: 13 / 64,
      left_col: 13 / 64,
      bottom_row: 53 / 64,
      right_col: 53 / 64,
    });
  });

  it('rejects a tensor that does not match the anchors', () => {
    const manifest = manifestWith(output, face);
    const outputs = {
      fine_boxes: tensor(new Array(4 * 6).fill(0), [1, 4, 6]),
      fine_scores: tensor([0, 0, 0, 0], [1, 4, 1]),
      coarse_boxes: tensor(new Array(3 * 6).fill(0), [1, 3, 6]),
      coarse_scores: tensor([0, 0, 0], [1, 3, 1]),
    };

    expect(() => decodeAnchorBoxes({ manifest, outputs, batchIndex: 0, geometry })).toThrow(
      'Model test-classifier: the layer with stride 64 has 2 anchors for a 64 x 64 input, but "coarse_boxes" has ' +
        'shape [1, 3, 6] and "coarse_scores" [1, 3, 1]. Expected [N, 2, >= 4] and [N, 2, 1]. ' +
        'Fix stride or anchors_per_cell.',
    );
  });

  it('names every tensor it reads', () => {
    expect(outputTensorNames(output)).toEqual(['fine_boxes', 'fine_scores', 'coarse_boxes', 'coarse_scores']);
  });
});

describe('binary-concepts decoder', () => {
  const concepts = [
    { id: 'female', name: 'female' },
    { id: 'male', name: 'male' },
  ];

  it('splits one probability into two concepts', () => {
    const manifest = manifestWith(
      { decoder: 'binary-concepts', tensor: 'gender', scores: 'probabilities', positive_concept: 'male' },
      concepts,
    );
    const gender = tensor([0.25, 0.8], [2, 1]);

    const data = decodeBinaryConcepts({ manifest, outputs: { gender }, batchIndex: 0, geometry: SQUARE });

    expect(data.concepts).toEqual([
      { id: 'female', name: 'female', value: 0.75 },
      { id: 'male', name: 'male', value: 0.25 },
    ]);
  });

  it('applies sigmoid to a logit', () => {
    const manifest = manifestWith(
      { decoder: 'binary-concepts', tensor: 'gender', scores: 'logits', positive_concept: 'male' },
      concepts,
    );
    const gender = tensor([2], [1, 1]);

    const data = decodeBinaryConcepts({ manifest, outputs: { gender }, batchIndex: 0, geometry: SQUARE });

    expect(data.concepts?.[0]).toEqual({ id: 'male', name: 'male', value: expect.closeTo(0.88079708, 7) });
  });

  it('rejects more than one score', () => {
    const manifest = manifestWith(
      { decoder: 'binary-concepts', tensor: 'gender', scores: 'probabilities', positive_concept: 'male' },
      concepts,
    );
    const gender = tensor([0.2, 0.8], [1, 2]);

    expect(() => decodeBinaryConcepts({ manifest, outputs: { gender }, batchIndex: 0, geometry: SQUARE })).toThrow(
      'Output "gender" of model test-classifier has shape [1, 2], expected [N, 1] for the binary-concepts decoder.',
    );
  });
});

describe('binned-concepts decoder', () => {
  const concepts = [
    { id: 'young', name: 'young' },
    { id: 'middle', name: 'middle' },
    { id: 'old', name: 'old' },
  ];

  it('sums the probabilities of each bin', () => {
    const manifest = manifestWith(
      { decoder: 'binned-concepts', tensor: 'age', scores: 'probabilities', bin_edges: [0, 2, 5, 6] },
      concepts,
    );
    const age = tensor([0.1, 0.1, 0.2, 0.3, 0.1, 0.2], [1, 6]);

    const data = decodeBinnedConcepts({ manifest, outputs: { age }, batchIndex: 0, geometry: SQUARE });

    expect(data.concepts?.map((concept) => concept.id)).toEqual(['middle', 'young', 'old']);
    expect(data.concepts?.map((concept) => concept.value)).toEqual([
      expect.closeTo(0.6, 6),
      expect.closeTo(0.2, 6),
      expect.closeTo(0.2, 6),
    ]);
  });

  it('rejects edges beyond the classes', () => {
    const manifest = manifestWith(
      { decoder: 'binned-concepts', tensor: 'age', scores: 'probabilities', bin_edges: [0, 2, 5, 9] },
      concepts,
    );
    const age = tensor([0.1, 0.1, 0.2, 0.3, 0.1, 0.2], [1, 6]);

    expect(() => decodeBinnedConcepts({ manifest, outputs: { age }, batchIndex: 0, geometry: SQUARE })).toThrow(
      'Output "age" of model test-classifier has shape [1, 6], but bin_edges reach class 9. Fix bin_edges.',
    );
  });
});

describe('zoo manifest validation', () => {
  it('checks bin_edges against the concepts', () => {
    const json = {
      ...classifierJson(),
      output: { decoder: 'binned-concepts', tensor: 'age', scores: 'probabilities', bin_edges: [0, 10, 5] },
    };

    expect(problemsOf(json)).toEqual([
      'output.bin_edges must be an increasing array of at least 2 integers >= 0 (got [0,10,5])',
      'output.bin_edges must be 4 edges for the 3 concepts (got [0,10,5])',
    ]);
  });

  it('checks the positive concept', () => {
    const json = {
      ...classifierJson(),
      output: { decoder: 'binary-concepts', tensor: 'gender', scores: 'probabilities', positive_concept: 'male' },
    };

    expect(problemsOf(json)).toEqual([
      'concepts must be exactly 2 concepts for the binary-concepts decoder (got 3)',
      'output.positive_concept must be the id of one of the concepts (got "male")',
    ]);
  });

  it('checks each anchor layer', () => {
    const json = {
      ...classifierJson(),
      model_type_id: 'visual-detector',
      output: {
        decoder: 'anchor-boxes',
        layers: [{ tensor: 'boxes', scores_tensor: 'scores', stride: 0, anchors_per_cell: 2 }, 'boxes'],
        scores: 'logits',
        score_threshold: 0.5,
        iou_threshold: 0.3,
        max_detections: 10,
      },
    };

    expect(problemsOf(json)).toEqual([
      'output.layers[0].stride must be an integer > 0 (got 0)',
      'output.layers[1] must be an object (got "boxes")',
    ]);
  });

  it('rejects three means for GRAY', () => {
    const json = classifierJson();
    const input = json.input as Record<string, unknown>;
    input.channel_order = 'GRAY';

    expect(problemsOf(json)).toEqual([
      'input.normalization.mean must be an array of 1 number (got [0,0,0])',
      'input.normalization.std must be an array of 1 number (got [1,1,1])',
    ]);
  });
});

describe('GRAY input', () => {
  // Two pixels: pure red and pure white.
  const image: DecodedImage = { pixels: Buffer.from([255, 0, 0, 255, 255, 255]), width: 2, height: 1, format: 'raw' };

  it.each(['NHWC', 'NCHW'] as const)('writes one luma channel in %s', async (layout) => {
    const base = classifierManifest();
    const manifest = classifierManifest({
      input: {
        ...base.input,
        layout,
        channel_order: 'GRAY',
        resize: { mode: 'stretch', width: 2, height: 1 },
        normalization: { scale: 2 / 255, mean: [1], std: [1] },
      },
    });

    const prepared = await prepareInput(manifest, image);

    expect(prepared.dims).toEqual(layout === 'NHWC' ? [1, 1, 2, 1] : [1, 1, 1, 2]);
    // Red has luma 0.299 * 255; scaled to -1..1 that is 2 * 0.299 - 1.
    expect(Array.from(prepared.data)).toEqual([expect.closeTo(2 * 0.299 - 1, 5), expect.closeTo(1, 5)]);
  });
});
