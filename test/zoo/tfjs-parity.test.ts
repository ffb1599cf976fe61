import { describe, expect, it } from 'vitest';
import type { OutputData } from '#commons/clarifai/types.ts';
import { getModel, predict } from '#commons/models/index.ts';
import { cosine, embeddingOf, faceCrop, loadImage, regionsOf } from './helpers.ts';
import { predictWithTfjs } from './tfjs-reference.ts';

// A face crop of the astronaut, from the box face-detection returns (x 134-217, y 58-141).
const FACE_BOX = { top_row: 0.145, left_col: 0.334, bottom_row: 0.353, right_col: 0.543 };

function expectSameRegions(onnx: OutputData | undefined, tfjs: OutputData | undefined): void {
  const onnxRegions = regionsOf(onnx);
  const tfjsRegions = regionsOf(tfjs);
  expect(onnxRegions.length).toBeGreaterThan(0);
  expect(onnxRegions.map((region) => region.data.concepts[0]?.id)).toEqual(
    tfjsRegions.map((region) => region.data.concepts[0]?.id),
  );
  onnxRegions.forEach((region, index) => {
    const expected = tfjsRegions[index]!;
    expect(region.value).toBeCloseTo(expected.value ?? NaN, 3);
    for (const side of ['top_row', 'left_col', 'bottom_row', 'right_col'] as const) {
      expect(region.region_info.bounding_box[side]).toBeCloseTo(expected.region_info.bounding_box[side], 3);
    }
  });
}

function expectSameConcepts(onnx: OutputData | undefined, tfjs: OutputData | undefined): void {
  expect(onnx?.concepts?.map((concept) => concept.id)).toEqual(tfjs?.concepts?.map((concept) => concept.id));
  onnx?.concepts?.forEach((concept, index) => {
    expect(concept.value).toBeCloseTo(tfjs?.concepts?.[index]?.value ?? NaN, 4);
  });
}

describe('converted zoo models', () => {
  it.each([
    ['general-object-detection', 'coffee.jpg'],
    ['face-detection', 'astronaut.jpg'],
  ])('%s matches TF.js on %s', async (modelId, photo) => {
    const image = await loadImage(photo);

    const [onnx] = await predict(modelId, [image]);
    const [tfjs] = await predictWithTfjs(getModel(modelId), [image]);

    expectSameRegions(onnx, tfjs);
  });

  it.each(['face-age', 'face-gender', 'face-emotion'])('%s matches TF.js', async (modelId) => {
    const face = await faceCrop(await loadImage('astronaut.jpg'), FACE_BOX);

    const [onnx] = await predict(modelId, [face]);
    const [tfjs] = await predictWithTfjs(getModel(modelId), [face]);

    expectSameConcepts(onnx, tfjs);
  });

  it.each([
    ['face-embedding', true],
    ['general-image-embedding', false],
  ])('%s matches TF.js', async (modelId, isFaceModel) => {
    const photo = await loadImage('astronaut.jpg');
    const image = isFaceModel ? await faceCrop(photo, FACE_BOX) : photo;

    const [onnx] = await predict(modelId, [image]);
    const [tfjs] = await predictWithTfjs(getModel(modelId), [image]);

    expect(cosine(embeddingOf(onnx).vector, embeddingOf(tfjs).vector)).toBeGreaterThan(0.9999);
  });
});
