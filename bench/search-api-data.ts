/**
 * The data of the search API benchmark: photo variants made with sharp and embedded with
 * `general-image-embedding`, synthetic clustered vectors around them, input ids and metadata,
 * and the exact top-k that recall is measured against.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '#commons/image/decode.ts';
import { predict } from '#commons/models/runtime.ts';
import { unitVector } from '#commons/search/indexing.ts';
import { Random } from '#commons/search/index/random.ts';
import { dot, normalizeInPlace } from '#commons/search/index/vectors.ts';

export const DIM = 120;
export const EMBEDDING_MODEL_ID = 'general-image-embedding';
const IMAGES_DIR = path.resolve('test/fixtures/images');
export const PHOTO_FILES = ['astronaut.jpg', 'camera.jpg', 'chelsea.jpg', 'coffee.jpg', 'page.png', 'rocket.jpg', 'text.png'];

/** Distinct values of `metadata.shop.id`, so a filter on one of them keeps about a tenth of the inputs. */
export const SHOP_COUNT = 10;

interface Photo {
  file: string;
  bytes: Buffer;
  width: number;
  height: number;
}

export async function loadPhotos(): Promise<Photo[]> {
  return Promise.all(
    PHOTO_FILES.map(async (file) => {
      // Flattened to RGB so that every variant is a 3-channel JPEG.
      const bytes = await sharp(readFileSync(path.join(IMAGES_DIR, file))).flatten({ background: '#ffffff' }).removeAlpha().png().toBuffer();
      const { width, height } = await sharp(bytes).metadata();
      return { file, bytes, width, height };
    }),
  );
}

function uniform(random: Random, low: number, high: number): number {
  return low + (high - low) * random.next();
}

/**
 * Makes a JPEG variant of a photo, as a shop's second picture of the same item might look. It
 * crops 50 % to 95 % of the area at a random place and mirrors half of the crops. Then it
 * rotates by -10 to 10 degrees, sets brightness and saturation to 0.7 to 1.3, blurs with a sigma
 * of 0 to 1.5 and encodes with JPEG quality 40 to 90.
 */
export async function photoVariant(photo: Photo, random: Random): Promise<Buffer> {
  const share = uniform(random, 0.5, 0.95);
  const aspect = uniform(random, 0.75, 4 / 3);
  const width = Math.min(photo.width, Math.round(Math.sqrt(share * photo.width * photo.height * aspect)));
  const height = Math.min(photo.height, Math.round(Math.sqrt((share * photo.width * photo.height) / aspect)));
  const crop = {
    left: random.nextInt(photo.width - width + 1),
    top: random.nextInt(photo.height - height + 1),
    width,
    height,
  };
  let image = sharp(photo.bytes).extract(crop);
  if (random.next() < 0.5) {
    image = image.flop();
  }
  const gray = random.nextInt(256);
  const rotated = await image.rotate(uniform(random, -10, 10), { background: { r: gray, g: gray, b: gray } }).png().toBuffer();

  let finish = sharp(rotated).modulate({ brightness: uniform(random, 0.7, 1.3), saturation: uniform(random, 0.7, 1.3) });
  const sigma = uniform(random, 0, 1.5);
  // sharp takes a Gaussian sigma of 0.3 or more, so smaller draws mean no blur.
  if (sigma >= 0.3) {
    finish = finish.blur(sigma);
  }
  return finish.jpeg({ quality: Math.round(uniform(random, 40, 90)) }).toBuffer();
}

/** Makes `count` images, photo by photo in turn: each photo's first image is the photo itself as JPEG when `withOriginals` is set. */
export async function photoImages(photos: readonly Photo[], count: number, seed: number, withOriginals: boolean): Promise<Array<{ file: string; bytes: Buffer }>> {
  const random = new Random(seed);
  const images: Array<{ file: string; bytes: Buffer }> = [];
  for (let index = 0; index < count; index += 1) {
    const photo = photos[index % photos.length] as Photo;
    const bytes = withOriginals && index < photos.length ? await sharp(photo.bytes).jpeg({ quality: 90 }).toBuffer() : await photoVariant(photo, random);
    images.push({ file: photo.file, bytes });
  }
  return images;
}

/** Returns the unit-length embedding of an image, computed as the search route computes it. */
export async function embedImage(bytes: Buffer): Promise<Float32Array> {
  const [output] = await predict(EMBEDDING_MODEL_ID, [await decodeImage(bytes)]);
  return unitVector(output?.embeddings?.[0]?.vector ?? []);
}

/**
 * Makes `count` unit vectors in clusters shaped like the real embeddings. A diagonal Gaussian
 * (mean and standard deviation per dimension) is fitted to `real`. Each of `clusterCount`
 * centers is drawn from it, and each vector is a uniformly chosen center plus Gaussian noise of
 * `spread` times the fitted deviation, then L2-normalized.
 */
export function syntheticVectors(real: readonly Float32Array[], count: number, clusterCount: number, spread: number, seed: number): Float32Array {
  const mean = new Float64Array(DIM);
  const deviation = new Float64Array(DIM);
  for (const vector of real) {
    vector.forEach((value, d) => (mean[d] = (mean[d] as number) + value / real.length));
  }
  for (const vector of real) {
    vector.forEach((value, d) => (deviation[d] = (deviation[d] as number) + (value - (mean[d] as number)) ** 2 / real.length));
  }
  deviation.forEach((variance, d) => (deviation[d] = Math.sqrt(variance)));

  const random = new Random(seed);
  const centers = new Float64Array(clusterCount * DIM);
  for (let c = 0; c < clusterCount; c += 1) {
    for (let d = 0; d < DIM; d += 1) {
      centers[c * DIM + d] = (mean[d] as number) + (deviation[d] as number) * random.nextGaussian();
    }
  }
  const vectors = new Float32Array(count * DIM);
  for (let row = 0; row < count; row += 1) {
    const c = random.nextInt(clusterCount);
    for (let d = 0; d < DIM; d += 1) {
      vectors[row * DIM + d] = (centers[c * DIM + d] as number) + spread * (deviation[d] as number) * random.nextGaussian();
    }
    normalizeInPlace(vectors, row * DIM, DIM);
  }
  return vectors;
}

/** Returns a 32-hex-digit input id for the row, as long as the ids `POST /v2/inputs` generates. */
export function inputIdOf(row: number): string {
  return createHash('sha256').update(`bench-input-${row}`).digest('hex').slice(0, 32);
}

export interface ExactHit {
  row: number;
  score: number;
}

/** Returns the `k` rows of `vectors` with the highest dot product with `query` among those `allow` keeps, best first. */
export function exactTopK(vectors: Float32Array, query: Float32Array, k: number, allow: (row: number) => boolean): ExactHit[] {
  const best: ExactHit[] = [];
  const rows = vectors.length / DIM;
  for (let row = 0; row < rows; row += 1) {
    const score = dot(vectors, row * DIM, query, 0, DIM);
    if ((best.length < k || score > (best.at(-1) as ExactHit).score) && allow(row)) {
      best.push({ row, score });
      best.sort((a, b) => b.score - a.score);
      if (best.length > k) {
        best.pop();
      }
    }
  }
  return best;
}
