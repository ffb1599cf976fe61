import { beforeAll, describe, expect, it } from 'vitest';
import type { BoundingBox } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { cosine, cropFraction, edit, embeddingOf, faceCrop, jpegCopy, loadImage, regionsOf } from './helpers.ts';
import { predict } from '#commons/models/index.ts';

let astronaut: DecodedImage;
let faceBox: BoundingBox;
let face: DecodedImage;

beforeAll(async () => {
  astronaut = await loadImage('astronaut.jpg');
  const [output] = await predict('face-detection', [astronaut]);
  faceBox = regionsOf(output)[0]!.region_info.bounding_box;
  face = await faceCrop(astronaut, faceBox);
});

describe('face-detection', () => {
  it('finds the one face of the astronaut', async () => {
    const [output] = await predict('face-detection', [astronaut]);

    const regions = regionsOf(output);
    expect(regions).toHaveLength(1);
    expect(regions[0]?.data.concepts[0]).toMatchObject({ id: 'face', name: 'face' });
    expect(regions[0]?.value).toBeGreaterThan(0.8);
    // Her face spans about x 134-217 and y 58-141 of the 400 x 400 photo.
    const box = regions[0]!.region_info.bounding_box;
    expect(box.left_col).toBeCloseTo(134 / 400, 1);
    expect(box.right_col).toBeCloseTo(217 / 400, 1);
    expect(box.top_row).toBeCloseTo(58 / 400, 1);
    expect(box.bottom_row).toBeCloseTo(141 / 400, 1);
  });

  it('finds the face in a letterboxed crop', async () => {
    // A 400 x 200 strip through her face: the letterbox puts the face off-centre vertically.
    const strip = await cropFraction(astronaut, { top_row: 0, left_col: 0, bottom_row: 0.5, right_col: 1 });

    const [output] = await predict('face-detection', [strip]);

    const box = regionsOf(output)[0]!.region_info.bounding_box;
    expect(regionsOf(output)).toHaveLength(1);
    expect(box.top_row).toBeCloseTo(58 / 200, 1);
    expect(box.bottom_row).toBeCloseTo(141 / 200, 1);
    expect(box.left_col).toBeCloseTo(134 / 400, 1);
  });

  it.each(['page.png', 'rocket.jpg'])('finds no face in %s', async (name) => {
    const image = await loadImage(name);

    const [output] = await predict('face-detection', [image]);

    expect(regionsOf(output)).toEqual([]);
  });
});

describe('face attributes', () => {
  it('reads the astronaut as female', async () => {
    const [output] = await predict('face-gender', [face]);

    expect(output?.concepts?.map((concept) => concept.id)).toEqual(['female', 'male']);
    expect(output?.concepts?.[0]?.value).toBeGreaterThan(0.75);
    expect((output?.concepts?.[0]?.value ?? 0) + (output?.concepts?.[1]?.value ?? 0)).toBeCloseTo(1, 6);
  });

  it('puts her age between 20 and 39', async () => {
    const [output] = await predict('face-age', [face]);

    const concepts = output?.concepts ?? [];
    expect(concepts).toHaveLength(9);
    expect(['age-20-29', 'age-30-39']).toContain(concepts[0]?.id);
    const sum = concepts.reduce((total, concept) => total + concept.value, 0);
    expect(sum).toBeCloseTo(1, 4);
    const twentiesAndThirties = concepts
      .filter((concept) => concept.id === 'age-20-29' || concept.id === 'age-30-39')
      .reduce((total, concept) => total + concept.value, 0);
    expect(twentiesAndThirties).toBeGreaterThan(0.5);
  });

  it('sees her smile as happy', async () => {
    const [output] = await predict('face-emotion', [face]);

    expect(output?.concepts).toHaveLength(7);
    expect(output?.concepts?.[0]).toMatchObject({ id: 'happy', name: 'happy' });
    expect(output?.concepts?.[0]?.value).toBeGreaterThan(0.8);
  });
});

describe('face-embedding', () => {
  it('returns a unit vector of 1024 values', async () => {
    const [output] = await predict('face-embedding', [face]);

    const embedding = embeddingOf(output);
    expect(embedding.num_dimensions).toBe(1024);
    expect(embedding.vector).toHaveLength(1024);
    expect(cosine(embedding.vector, embedding.vector)).toBeCloseTo(1, 5);
  });

  it('keeps the same face closer than other crops', async () => {
    const chelsea = await loadImage('chelsea.jpg');
    const coffee = await loadImage('coffee.jpg');
    const sameFace = {
      mirrored: await edit(face, (image) => image.flop()),
      'shifted left': await faceCrop(astronaut, faceBox, 1, -0.1, 0),
      'shifted down': await faceCrop(astronaut, faceBox, 1, 0, 0.1),
      tighter: await faceCrop(astronaut, faceBox, 0.85),
      looser: await faceCrop(astronaut, faceBox, 1.4),
      darker: await edit(face, (image) => image.linear(0.6, 0)),
      brighter: await edit(face, (image) => image.linear(1.3, 20)),
      blurred: await edit(face, (image) => image.blur(1.5)),
      'JPEG quality 25': await jpegCopy(face, 25),
      '48 px': await edit(face, (image) => image.resize(48, 48)),
    };
    const otherCrops = {
      // The box that face-detection itself returns on the cat's face, with a score of 0.76.
      'cat face': await faceCrop(chelsea, { top_row: 0.135, left_col: 0.164, bottom_row: 0.915, right_col: 0.681 }),
      'coffee cup': await cropFraction(coffee, { top_row: 0.15, left_col: 0.27, bottom_row: 0.83, right_col: 0.73 }),
      'astronaut suit': await cropFraction(astronaut, {
        top_row: 0.62,
        left_col: 0.5,
        bottom_row: 0.97,
        right_col: 0.85,
      }),
      'astronaut flag': await cropFraction(astronaut, { top_row: 0.5, left_col: 0, bottom_row: 0.87, right_col: 0.37 }),
    };

    const [reference] = await predict('face-embedding', [face]);
    const same = await predict('face-embedding', Object.values(sameFace));
    const other = await predict('face-embedding', Object.values(otherCrops));

    const vector = embeddingOf(reference).vector;
    const sameSimilarity = same.map((output) => cosine(vector, embeddingOf(output).vector));
    const otherSimilarity = other.map((output) => cosine(vector, embeddingOf(output).vector));
    // Measured: 0.80 (blurred) to 0.97 for the same face, 0.07 to 0.16 for the other crops.
    Object.keys(sameFace).forEach((name, index) => {
      expect(sameSimilarity[index], name).toBeGreaterThan(0.7);
    });
    Object.keys(otherCrops).forEach((name, index) => {
      expect(otherSimilarity[index], name).toBeLessThan(0.3);
    });
    expect(Math.min(...sameSimilarity)).toBeGreaterThan(Math.max(...otherSimilarity) + 0.4);
  });

  it('keeps altered copies closer than another person', async () => {
    const camera = await loadImage('camera.jpg');
    const [detected] = await predict('face-detection', [camera]);
    const otherFace = await faceCrop(camera, regionsOf(detected)[0]!.region_info.bounding_box);
    const altered = [
      await edit(face, (image) => image.flop()),
      await faceCrop(astronaut, faceBox, 0.85),
      await edit(face, (image) => image.linear(1.3, 20)),
    ];

    const [reference] = await predict('face-embedding', [face]);
    const [other] = await predict('face-embedding', [otherFace]);
    const copies = await predict('face-embedding', altered);

    const vector = embeddingOf(reference).vector;
    const otherSimilarity = cosine(vector, embeddingOf(other).vector);
    // Measured: 0.36 for the cameraman, 0.87 to 0.96 for the copies.
    expect(regionsOf(detected)).toHaveLength(1);
    expect(otherSimilarity).toBeLessThan(0.6);
    for (const copy of copies) {
      expect(cosine(vector, embeddingOf(copy).vector)).toBeGreaterThan(otherSimilarity);
    }
  });
});
