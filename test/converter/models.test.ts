/**
 * Converts the human-models TF.js graph models and checks that ONNX Runtime computes what TF.js
 * computes, on real photos.
 *
 * Tolerance: both sides compute in float32 with the same weights, dequantized once. So the only
 * source of difference is the order of float32 operations. ONNX Runtime's MLAS kernels block and
 * vectorize the convolution sums, and TF.js's CPU backend adds them in plain loops. Each rounding
 * is off by at most 2^-24 relative, and a sum of K products drifts by about sqrt(K) roundings.
 * Over a few dozen layers of sums of up to ~1000 terms, that estimate gives a drift around 1e-5
 * of the output's scale, so 1e-4 leaves headroom. The largest difference measured here is
 * 1.2e-5 of the scale (faceres `global_pooling/Mean`), and 3e-6 or less for every other output.
 * A mapping error fails the check: putting the larger SAME pad at the top instead of the bottom
 * fails blazeface. Float16 quantized weights add no difference, because they are expanded to
 * float32 exactly, once, for both runtimes.
 */
import path from 'node:path';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConvertedModel, convertTfjsGraphModel } from '../../converter/tfjs-to-onnx.ts';
import {
  compare,
  HUMAN_MODELS,
  type ImageInput,
  imageTensor,
  loadTfjsModel,
  type OutputArray,
  runOnnx,
  runTfjs,
  stack,
} from './helpers.ts';

/** Maximum |ONNX - TF.js| as a fraction of the output's largest magnitude. */
const RELATIVE_TO_SCALE = 1e-4;

const FACE: ImageInput = { file: 'astronaut.jpg', crop: { left: 128, top: 40, width: 104, height: 112 } };
const CAT: ImageInput = { file: 'chelsea.jpg' };

interface ModelCase {
  model: string;
  size: number;
  scale: number;
  offset: number;
  grayscale?: boolean;
  /** Photos run one by one, or as one batch when `batched`. */
  images: ImageInput[];
  batched: boolean;
}

const CASES: ModelCase[] = [
  { model: 'blazeface', size: 256, scale: 1 / 127.5, offset: -1, images: [{ file: 'astronaut.jpg' }, { file: 'coffee.jpg' }], batched: false },
  { model: 'centernet', size: 512, scale: 1, offset: 0, images: [{ file: 'astronaut.jpg' }], batched: false },
  { model: 'faceres', size: 224, scale: 1 / 255, offset: 0, images: [FACE, CAT], batched: true },
  { model: 'mobilefacenet', size: 112, scale: 1 / 127.5, offset: -1, images: [FACE, CAT], batched: true },
  { model: 'emotion', size: 64, scale: 1 / 255, offset: 0, grayscale: true, images: [FACE, CAT], batched: true },
  { model: 'age', size: 64, scale: 1 / 255, offset: 0, images: [FACE, CAT], batched: true },
  { model: 'gender', size: 64, scale: 1 / 255, offset: 0, grayscale: true, images: [FACE, CAT], batched: true },
  { model: 'gear', size: 198, scale: 1 / 255, offset: 0, images: [FACE, CAT], batched: true },
];

async function inputsFor(testCase: ModelCase): Promise<OutputArray[]> {
  const tensors = await Promise.all(
    testCase.images.map((image) =>
      imageTensor(image, { width: testCase.size, height: testCase.size }, {
        scale: testCase.scale,
        offset: testCase.offset,
        grayscale: testCase.grayscale,
      }),
    ),
  );
  return testCase.batched ? [stack(tensors)] : tensors;
}

describe.each(CASES)('$model', (testCase) => {
  let converted: ConvertedModel;
  let reference: GraphModel;

  beforeAll(async () => {
    const modelJsonPath = path.join(HUMAN_MODELS, `${testCase.model}.json`);
    converted = await convertTfjsGraphModel(modelJsonPath);
    reference = await loadTfjsModel(modelJsonPath);
  });

  afterAll(() => {
    reference.dispose();
  });

  it('matches TF.js on photos', async () => {
    const input = converted.inputs[0]!;
    const outputNames = converted.outputs.map((output) => output.name);

    for (const tensor of await inputsFor(testCase)) {
      const expected = await runTfjs(reference, input.name, tensor, outputNames);
      const actual = await runOnnx(converted.onnx, input.name, tensor, outputNames);

      outputNames.forEach((name, index) => {
        const difference = compare(actual[index]!, expected[index]!);
        expect(actual[index]!.dims, name).toEqual(expected[index]!.dims);
        expect(difference.maxAbs, `${name}: ${JSON.stringify(difference)}`).toBeLessThanOrEqual(
          RELATIVE_TO_SCALE * difference.scale,
        );
      });
    }
  });
});

describe('centernet backbone as an embedder', () => {
  const cutAt = 'tower_0/extern1/hard_swish/mul_1';

  it('matches the TF.js feature map averaged over H and W', async () => {
    const modelJsonPath = path.join(HUMAN_MODELS, 'centernet.json');
    const converted = await convertTfjsGraphModel(modelJsonPath, { cutAt, globalPool: 'mean', batchSize: 'dynamic' });
    const reference = await loadTfjsModel(modelJsonPath);
    const photos = await Promise.all(
      ['astronaut.jpg', 'rocket.jpg'].map((file) => imageTensor({ file }, { width: 512, height: 512 }, { scale: 1, offset: 0 })),
    );

    const [actual] = await runOnnx(converted.onnx, 'tower_0/images', stack(photos), [converted.outputs[0]!.name]);
    const expectedRows: OutputArray[] = [];
    for (const photo of photos) {
      const feed = tf.tensor(photo.data, photo.dims, 'float32');
      const feature = reference.execute({ 'tower_0/images': feed }, cutAt) as tf.Tensor;
      const pooled = tf.mean(feature, [1, 2]);
      expectedRows.push({ dims: pooled.shape, data: Float32Array.from(await pooled.data()) });
      tf.dispose([feed, feature, pooled]);
    }
    reference.dispose();
    const expected = stack(expectedRows);

    expect(converted.outputs).toEqual([{ name: `${cutAt}/global_mean_pool`, shape: [-1, 480], dtype: 'float32' }]);
    expect(actual!.dims).toEqual([2, 480]);
    const difference = compare(actual!, expected);
    expect(difference.maxAbs, JSON.stringify(difference)).toBeLessThanOrEqual(RELATIVE_TO_SCALE * difference.scale);
  });
});
