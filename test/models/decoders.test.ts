import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeSoftmaxConcepts, decodeSigmoidConcepts } from '#commons/models/decoders/concepts.ts';
import { decodeDetectionBoxes, toInputPixels } from '#commons/models/decoders/detection-boxes.ts';
import { decodeEmbedding } from '#commons/models/decoders/embedding.ts';
import { l2Normalize, sigmoid, softmax } from '#commons/models/decoders/math.ts';
import { intersectionOverUnion, nonMaxSuppression } from '#commons/models/decoders/nms.ts';
import {
  findComponents,
  findTextBoxes,
  type TextMapParameters,
  unclip,
} from '#commons/models/decoders/text-probability-map.ts';
import { type InputGeometry, toBoundingBox } from '#commons/models/decoders/types.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';
import { classifierManifest, detectorManifest } from './fake-manifests.ts';

const FULL: InputGeometry = {
  inputWidth: 100,
  inputHeight: 50,
  contentLeft: 0,
  contentTop: 0,
  contentWidth: 100,
  contentHeight: 50,
};

function outputs(entries: Record<string, Tensor>): Record<string, Tensor> {
  return entries;
}

describe('softmax', () => {
  it('sums to one and keeps order', () => {
    const result = softmax([1, 2, 3]);

    expect(result.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(result[0]).toBeCloseTo(0.09003057, 7);
    expect(result[2]).toBeCloseTo(0.66524096, 7);
  });

  it('survives large logits', () => {
    const result = softmax([1000, 1000]);

    expect(result).toEqual([0.5, 0.5]);
  });
});

describe('sigmoid', () => {
  it('maps logits to probabilities', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(2)).toBeCloseTo(0.88079708, 7);
  });
});

describe('l2Normalize', () => {
  it('scales to unit length', () => {
    expect(l2Normalize([3, 4])).toEqual([0.6, 0.8]);
  });

  it('keeps a zero vector', () => {
    expect(l2Normalize([0, 0])).toEqual([0, 0]);
  });
});

describe('nonMaxSuppression', () => {
  const boxes = [
    { top: 0, left: 0, bottom: 10, right: 10 },
    { top: 1, left: 1, bottom: 11, right: 11 },
    { top: 20, left: 20, bottom: 30, right: 30 },
    { top: 0, left: 5, bottom: 10, right: 15 },
  ];

  it('computes intersection over union', () => {
    expect(intersectionOverUnion(boxes[0]!, boxes[3]!)).toBeCloseTo(50 / 150, 12);
    expect(intersectionOverUnion(boxes[0]!, boxes[2]!)).toBe(0);
  });

  it('drops overlapping lower scores', () => {
    const kept = nonMaxSuppression(boxes, [0.8, 0.9, 0.7, 0.6], 0.5);

    expect(kept).toEqual([1, 2, 3]);
  });

  it('stops at the maximum output', () => {
    expect(nonMaxSuppression(boxes, [0.8, 0.9, 0.7, 0.6], 0.5, 2)).toEqual([1, 2]);
  });

  it('rejects missing scores', () => {
    expect(() => nonMaxSuppression(boxes, [1], 0.5)).toThrow(
      'nonMaxSuppression needs one score per box: got 4 boxes and 1 scores.',
    );
  });
});

describe('text probability map', () => {
  const parameters: TextMapParameters = {
    threshold: 0.3,
    box_threshold: 0.6,
    unclip_ratio: 1.5,
    min_size: 3,
    max_candidates: 1000,
    iou_threshold: 0.5,
  };

  /** Builds a 40 x 20 map with rectangles of the given probability. Bounds are inclusive pixels. */
  function mapWith(rectangles: Array<{ x0: number; y0: number; x1: number; y1: number; p: number }>): Float32Array {
    const map = new Float32Array(40 * 20);
    for (const { x0, y0, x1, y1, p } of rectangles) {
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          map[y * 40 + x] = p;
        }
      }
    }
    return map;
  }

  it('labels 8-connected components', () => {
    const map = mapWith([
      { x0: 2, y0: 2, x1: 4, y1: 4, p: 0.9 },
      { x0: 5, y0: 5, x1: 6, y1: 6, p: 0.5 },
      { x0: 20, y0: 2, x1: 21, y1: 3, p: 0.8 },
    ]);

    const components = findComponents(map, 40, 20, 0.3);

    expect(components).toHaveLength(2);
    expect(components[0]).toMatchObject({ pixelCount: 13, minX: 2, minY: 2, maxX: 6, maxY: 6 });
    expect(components[0]!.probabilitySum).toBeCloseTo(9 * 0.9 + 4 * 0.5, 5);
    expect(components[1]).toMatchObject({ pixelCount: 4, minX: 20, minY: 2, maxX: 21, maxY: 3 });
  });

  it('unclips by area times ratio over perimeter', () => {
    const box = unclip({ top: 0, left: 0, bottom: 4, right: 12 }, 1.5);

    expect(box).toEqual({ top: -2.25, left: -2.25, bottom: 6.25, right: 14.25 });
  });

  it('keeps confident text boxes only', () => {
    const map = mapWith([
      { x0: 4, y0: 4, x1: 15, y1: 7, p: 0.9 },
      { x0: 20, y0: 10, x1: 35, y1: 13, p: 0.5 },
      { x0: 30, y0: 2, x1: 31, y1: 3, p: 0.95 },
    ]);

    const boxes = findTextBoxes(map, 40, 20, parameters);

    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.score).toBeCloseTo(0.9, 5);
    expect(boxes[0]!.top).toBeCloseTo(4 - 2.25, 5);
    expect(boxes[0]!.left).toBeCloseTo(4 - 2.25, 5);
    expect(boxes[0]!.bottom).toBeCloseTo(8 + 2.25, 5);
    expect(boxes[0]!.right).toBeCloseTo(16 + 2.25, 5);
  });

  it('clips boxes to the map and orders them by line', () => {
    const map = mapWith([
      { x0: 20, y0: 12, x1: 39, y1: 19, p: 0.8 },
      { x0: 0, y0: 0, x1: 9, y1: 3, p: 0.8 },
    ]);

    const boxes = findTextBoxes(map, 40, 20, parameters);

    expect(boxes.map(({ top, left, bottom, right }) => ({ top, left, bottom, right }))).toEqual([
      { top: 0, left: 0, bottom: expect.closeTo(4 + 60 / 28, 5), right: expect.closeTo(10 + 60 / 28, 5) },
      { top: expect.closeTo(12 - 240 / 56, 5), left: expect.closeTo(20 - 240 / 56, 5), bottom: 20, right: 40 },
    ]);
  });
});

describe('toBoundingBox', () => {
  it('maps letterbox content to image fractions', () => {
    const geometry: InputGeometry = { ...FULL, contentLeft: 25, contentWidth: 50 };

    const box = toBoundingBox({ top: 10, left: 30, bottom: 40, right: 80 }, geometry);

    expect(box).toEqual({ top_row: 0.2, left_col: 0.1, bottom_row: 0.8, right_col: 1 });
  });
});

describe('concept decoders', () => {
  it('applies softmax to logits', () => {
    const manifest = classifierManifest();
    const scores = new Tensor('float32', Float32Array.from([0, 2, 1, 5, 0, 0]), [2, 3]);

    const data = decodeSoftmaxConcepts({ manifest, outputs: outputs({ scores }), batchIndex: 0, geometry: FULL });

    expect(data.concepts?.map((concept) => concept.id)).toEqual(['dog', 'bird', 'cat']);
    expect(data.concepts?.[0]?.value).toBeCloseTo(softmax([0, 2, 1])[1]!, 6);
  });

  it('reads the right batch item', () => {
    const manifest = classifierManifest();
    const scores = new Tensor('float32', Float32Array.from([0, 2, 1, 5, 0, 0]), [2, 3]);

    const data = decodeSoftmaxConcepts({ manifest, outputs: outputs({ scores }), batchIndex: 1, geometry: FULL });

    expect(data.concepts?.[0]?.id).toBe('cat');
  });

  it('keeps probabilities as they are', () => {
    const manifest = classifierManifest({ output: { decoder: 'sigmoid-concepts', tensor: 'scores', scores: 'probabilities' } });
    const scores = new Tensor('float32', Float32Array.from([0.25, 0.5, 0.75]), [1, 3]);

    const data = decodeSigmoidConcepts({ manifest, outputs: outputs({ scores }), batchIndex: 0, geometry: FULL });

    expect(data.concepts).toEqual([
      { id: 'bird', name: 'Bird', value: 0.75 },
      { id: 'dog', name: 'Dog', value: 0.5 },
      { id: 'cat', name: 'Cat', value: 0.25 },
    ]);
  });

  it('rejects a concept count mismatch', () => {
    const manifest = classifierManifest();
    const scores = new Tensor('float32', Float32Array.from([1, 2]), [1, 2]);

    expect(() => decodeSoftmaxConcepts({ manifest, outputs: outputs({ scores }), batchIndex: 0, geometry: FULL })).toThrow(
      'Output "scores" of model test-classifier has shape [1, 2], but the manifest lists 3 concepts.',
    );
  });

  it('names the outputs found', () => {
    const manifest = classifierManifest();
    const logits = new Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]);

    expect(() => decodeSoftmaxConcepts({ manifest, outputs: outputs({ logits }), batchIndex: 0, geometry: FULL })).toThrow(
      'Model test-classifier has no output tensor "scores" (outputs: logits). Fix the manifest.',
    );
  });
});

describe('embedding decoder', () => {
  it('returns an L2-normalized vector', () => {
    const manifest: ModelManifest = classifierManifest({
      model_type_id: 'visual-embedder',
      output: { decoder: 'embedding', tensor: 'features' },
      concepts: [],
    });
    const features = new Tensor('float32', Float32Array.from([3, 4, 0, 0, 0, 2]), [2, 3, 1, 1]);

    const data = decodeEmbedding({ manifest, outputs: outputs({ features }), batchIndex: 1, geometry: FULL });

    expect(data.embeddings).toEqual([{ vector: [0, 0, 1], num_dimensions: 3 }]);
  });
});

describe('detection-boxes decoder', () => {
  it('converts box formats to input pixels', () => {
    expect(toInputPixels([50, 25, 20, 10], 'cxcywh', 'pixels', FULL)).toEqual({ left: 40, top: 20, right: 60, bottom: 30 });
    expect(toInputPixels([0.1, 0.2, 0.5, 0.6], 'yxyx', 'normalized', FULL)).toEqual({
      top: 5,
      left: 20,
      bottom: 25,
      right: 60,
    });
  });

  it('suppresses per class and maps to the image', () => {
    const manifest = detectorManifest();
    // Letterbox: a 50 x 50 image centred in the 100 x 50 input.
    const geometry: InputGeometry = { ...FULL, contentLeft: 25, contentWidth: 50 };
    const boxes = new Tensor(
      'float32',
      Float32Array.from([
        ...[30, 10, 50, 30], // cat 0.9
        ...[31, 11, 51, 31], // cat 0.8, overlaps the first: suppressed
        ...[31, 11, 51, 31], // dog 0.7, same place but another class: kept
        ...[60, 0, 70, 10], // cat 0.3, below the score threshold
        ...[0, 0, 20, 50], // dog 0.95, entirely in the padding: dropped
      ]),
      [1, 5, 4],
    );
    const scores = new Tensor(
      'float32',
      Float32Array.from([0.9, 0.1, 0.8, 0.1, 0.2, 0.7, 0.3, 0.1, 0.05, 0.95]),
      [1, 5, 2],
    );

    const data = decodeDetectionBoxes({ manifest, outputs: outputs({ boxes, scores }), batchIndex: 0, geometry });

    expect(data.regions).toHaveLength(2);
    const [cat, dog] = data.regions!;
    expect(cat!.data.concepts).toEqual([{ id: 'cat', name: 'Cat', value: expect.closeTo(0.9, 6) }]);
    expect(cat!.region_info.bounding_box).toEqual({ top_row: 0.2, left_col: 0.1, bottom_row: 0.6, right_col: 0.5 });
    expect(dog!.data.concepts[0]!.id).toBe('dog');
    expect(cat!.id).toMatch(/^[0-9a-f]{32}$/);
    expect(cat!.id).not.toBe(dog!.id);
  });
});
