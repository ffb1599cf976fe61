import { beforeAll, describe, expect, it } from 'vitest';
import type { DecodedImage } from '#commons/image/types.ts';
import { predict } from '#commons/models/runtime.ts';
import { ExactIndex } from '#commons/search/index/exact.ts';
import { IvfIndex } from '#commons/search/index/ivf.ts';
import { cropFraction, edit, embeddingOf, loadImage } from '../../zoo/helpers.ts';

const MODEL = 'general-image-embedding';
const DIM = 120;
const PHOTOS = ['astronaut.jpg', 'camera.jpg', 'chelsea.jpg', 'coffee.jpg', 'page.png', 'rocket.jpg', 'text.png'];

async function embed(images: readonly DecodedImage[]): Promise<Float32Array> {
  const outputs = await predict(MODEL, images);
  const vectors = new Float32Array(images.length * DIM);
  outputs.forEach((output, index) => vectors.set(embeddingOf(output).vector, index * DIM));
  return vectors;
}

/** Altered copies of a photo, as a shopper's photo of a catalogue item would differ from it. */
async function alteredCopies(image: DecodedImage): Promise<Record<string, DecodedImage>> {
  const cropped = await cropFraction(image, { top_row: 0.1, left_col: 0.05, bottom_row: 0.85, right_col: 0.9 });
  return {
    'crop to 64 %': cropped,
    'brightness x1.3': await edit(image, (copy) => copy.linear(1.3, 0)),
    'darker crop': await edit(cropped, (copy) => copy.linear(0.7, -10)),
  };
}

describe('search on real embeddings', () => {
  let originals: Float32Array;
  const queries: { photo: string; change: string; vector: Float32Array }[] = [];

  beforeAll(async () => {
    const images = await Promise.all(PHOTOS.map((name) => loadImage(name)));
    originals = await embed(images);
    for (const [index, photo] of PHOTOS.entries()) {
      const copies = await alteredCopies(images[index]!);
      const vectors = await embed(Object.values(copies));
      Object.keys(copies).forEach((change, copy) => queries.push({ photo, change, vector: vectors.subarray(copy * DIM, (copy + 1) * DIM) }));
    }
  });

  it('ranks the original first with exact search', () => {
    const index = ExactIndex.build(originals, PHOTOS, DIM);

    for (const { photo, change, vector } of queries) {
      const [best, second] = index.search(vector, 2);
      expect(best!.id, `${photo}, ${change}`).toBe(photo);
      expect(best!.score, `${photo}, ${change}`).toBeGreaterThan(0.85);
      expect(best!.score - second!.score, `${photo}, ${change} against the next photo`).toBeGreaterThan(0.1);
    }
  });

  it('ranks the original first with the IVF index', () => {
    // Three lists and two probed, so a copy has to land near its original's centroid.
    const index = IvfIndex.build(originals, PHOTOS, DIM, { nlist: 3, quantizer: { kind: 'sq8' } });

    for (const { photo, change, vector } of queries) {
      const [best] = index.search(vector, 1, { nprobe: 2 });
      expect(best?.id, `${photo}, ${change}`).toBe(photo);
    }
  });
});
