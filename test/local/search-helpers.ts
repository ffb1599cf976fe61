/**
 * Photos, their labels, metadata and places, and altered copies, for the search tests that
 * run against the local stack.
 */
import path from 'node:path';
import sharp from 'sharp';
import type { LocalStack } from '../../local/stack.ts';
import { IMAGES_DIR, callApi, imageBase64, waitForInput } from './helpers.ts';

export const BERLIN = { longitude: 13.405, latitude: 52.52 };
export const POTSDAM = { longitude: 13.0645, latitude: 52.3906 };
export const PARIS = { longitude: 2.3522, latitude: 48.8566 };
export const CAPE_CANAVERAL = { longitude: -80.6077, latitude: 28.3922 };
export const HOUSTON = { longitude: -95.3698, latitude: 29.7604 };
export const TOKYO = { longitude: 139.6917, latitude: 35.6895 };

export interface Photo {
  id: string;
  file: string;
  metadata: Record<string, unknown>;
  geo?: { longitude: number; latitude: number };
  labels: Array<{ id: string; value: 0 | 1 }>;
}

/** The seven test photos as inputs: five photographs and two scans of text. */
export const PHOTOS: Photo[] = [
  {
    id: 'cat',
    file: 'chelsea.jpg',
    metadata: { kind: 'photo', shop: { id: 1, open: true }, sizes: ['S', 'M'] },
    geo: BERLIN,
    labels: [{ id: 'pet', value: 1 }],
  },
  {
    id: 'rocket',
    file: 'rocket.jpg',
    metadata: { kind: 'photo', shop: { id: 2, open: false }, sizes: ['L'] },
    geo: CAPE_CANAVERAL,
    labels: [{ id: 'pet', value: 0 }],
  },
  {
    id: 'coffee',
    file: 'coffee.jpg',
    metadata: { kind: 'photo', shop: { id: 1, open: true }, sizes: ['M', 'L'] },
    geo: PARIS,
    labels: [{ id: 'drink', value: 1 }],
  },
  {
    id: 'astronaut',
    file: 'astronaut.jpg',
    metadata: { kind: 'photo', shop: { id: 3, open: true } },
    geo: HOUSTON,
    labels: [{ id: 'person', value: 1 }],
  },
  {
    id: 'camera',
    file: 'camera.jpg',
    metadata: { kind: 'photo', shop: { id: 2, open: true }, sizes: ['S'] },
    geo: POTSDAM,
    labels: [{ id: 'person', value: 1 }],
  },
  { id: 'page', file: 'page.png', metadata: { kind: 'scan', pages: 1 }, geo: TOKYO, labels: [] },
  { id: 'text', file: 'text.png', metadata: { kind: 'scan' }, labels: [] },
];

/** Adds the photos as inputs and waits until the default workflow indexed each of them. */
export async function addPhotos(stack: LocalStack, photos: readonly Photo[] = PHOTOS): Promise<void> {
  const inputs = photos.map((photo) => ({
    id: photo.id,
    data: {
      image: { base64: imageBase64(photo.file) },
      metadata: photo.metadata,
      ...(photo.geo === undefined ? {} : { geo: { geo_point: photo.geo } }),
      ...(photo.labels.length === 0 ? {} : { concepts: photo.labels }),
    },
  }));
  const added = await callApi(stack, 'POST', '/v2/inputs', { inputs });
  if (added.httpStatus !== 200) {
    throw new Error(`adding the photos failed: ${JSON.stringify(added.body)}`);
  }
  for (const photo of photos) {
    const input = await waitForInput(stack, photo.id);
    if (input.status.code !== 30000) {
      throw new Error(`input ${photo.id} failed: ${JSON.stringify(input.status)}`);
    }
  }
}

/** Returns a JPEG copy of a photo, cropped to its central 80 % and 20 % brighter, as base64. */
export async function alteredCopy(file: string): Promise<string> {
  const { data, info } = await sharp(path.join(IMAGES_DIR, file)).toBuffer({ resolveWithObject: true });
  const crop = {
    left: Math.round(info.width * 0.1),
    top: Math.round(info.height * 0.1),
    width: Math.round(info.width * 0.8),
    height: Math.round(info.height * 0.8),
  };
  const bytes = await sharp(data).extract(crop).modulate({ brightness: 1.2 }).jpeg({ quality: 85 }).toBuffer();
  return bytes.toString('base64');
}

/** Builds a `POST /v2/annotations/searches` body. */
export function searchBody(query: Record<string, unknown>, pagination?: { page?: number; per_page?: number }): Record<string, unknown> {
  return { searches: [{ query }], ...(pagination === undefined ? {} : { pagination }) };
}

export function imageRank(base64: string): Record<string, unknown> {
  return { annotation: { data: { image: { base64 } } } };
}

/** Returns the ids of the hits, in order. */
export function hitIds(body: Record<string, any>): string[] {
  return (body.hits as Array<{ input: { id: string } }>).map((hit) => hit.input.id);
}
