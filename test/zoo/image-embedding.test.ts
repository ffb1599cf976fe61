import { describe, expect, it } from 'vitest';
import type { DecodedImage } from '#commons/image/types.ts';
import { cosine, cropFraction, edit, embeddingOf, jpegCopy, loadImage } from './helpers.ts';
import { predict } from '#commons/models/index.ts';

const MODEL = 'general-image-embedding';
const PHOTOS = ['astronaut.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'];

/** Near-duplicates of a photo: the kinds of copies that a duplicate search should still find. */
async function nearDuplicates(image: DecodedImage): Promise<Record<string, DecodedImage>> {
  return {
    'half size': await edit(image, (copy) => copy.resize(Math.round(image.width / 2))),
    'centre crop': await cropFraction(image, { top_row: 0.1, left_col: 0.1, bottom_row: 0.9, right_col: 0.9 }),
    'left 85 %': await cropFraction(image, { top_row: 0, left_col: 0, bottom_row: 1, right_col: 0.85 }),
    brighter: await edit(image, (copy) => copy.linear(1.2, 15)),
    'JPEG quality 35': await jpegCopy(image, 35),
  };
}

describe('general-image-embedding', () => {
  it('returns a unit vector of 120 values', async () => {
    const [output] = await predict(MODEL, [await loadImage('chelsea.jpg')]);

    const embedding = embeddingOf(output);
    expect(embedding.num_dimensions).toBe(120);
    expect(embedding.vector).toHaveLength(120);
    expect(cosine(embedding.vector, embedding.vector)).toBeCloseTo(1, 5);
  });

  it('puts near-duplicates closer than other photos', async () => {
    const originals = await Promise.all(PHOTOS.map((name) => loadImage(name)));
    const originalVectors = (await predict(MODEL, originals)).map((output) => embeddingOf(output).vector);

    for (const [photoIndex, photo] of PHOTOS.entries()) {
      const copies = await nearDuplicates(originals[photoIndex]!);
      const copyVectors = (await predict(MODEL, Object.values(copies))).map((output) => embeddingOf(output).vector);

      const reference = originalVectors[photoIndex]!;
      const otherPhotos = originalVectors.filter((_, index) => index !== photoIndex);
      const closestOther = Math.max(...otherPhotos.map((vector) => cosine(reference, vector)));
      // Measured: copies 0.94 to 0.998, other photos at most 0.66 (chelsea and coffee).
      Object.keys(copies).forEach((name, index) => {
        const similarity = cosine(reference, copyVectors[index]!);
        expect(similarity, `${photo}, ${name}`).toBeGreaterThan(0.9);
        expect(similarity - closestOther, `${photo}, ${name} against the closest other photo`).toBeGreaterThan(0.2);
      });
    }
  });
});
