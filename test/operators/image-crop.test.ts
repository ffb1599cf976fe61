import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BoundingBox } from '#commons/clarifai/types.ts';
import { s3Client } from '#commons/aws/clients.ts';
import { predict } from '#commons/models/index.ts';
import { getImageBytes } from '#commons/storage/images.ts';
import type { NodeOutput, S3Ref } from '#commons/workflows/node-data.ts';
import { imageCrop } from '../../functions/operators/image-crop/operator.ts';
import {
  type LocalServices,
  PAGE_LINES,
  decodeForModel,
  modelOutput,
  nodeEvent,
  readFixture,
  runOperator,
  startServices,
  uploadImage,
} from './helpers.ts';

const PAGE_WIDTH = 384;
const PAGE_HEIGHT = 191;

let services: LocalServices;
let pageImage: S3Ref;
let pageBytes: Buffer;
let detection: NodeOutput;

beforeAll(async () => {
  services = await startServices();
  pageBytes = await readFixture('page.png');
  pageImage = await uploadImage(services.bucket, 'uploads/main/page.png', pageBytes);
  detection = await modelOutput('detection', 'ocr-text-detector', pageBytes);
});

afterAll(async () => {
  await services?.stop();
});

/** Returns the pixels of `rect` in `bytes` as 3-channel sRGB, cut by sharp directly. */
async function expectedPixels(bytes: Buffer, rect: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  return sharp(bytes).extract(rect).removeAlpha().toColourspace('srgb').raw().toBuffer();
}

async function cropPixels(ref: S3Ref): Promise<{ pixels: Buffer; width: number; height: number }> {
  const bytes = await getImageBytes(ref, 10_000_000);
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height };
}

/** Computes the pixel rectangle of a box with outward rounding, independently of the operator. */
function pixelsOf(box: BoundingBox, width: number, height: number) {
  const left = Math.floor(box.left_col * width);
  const top = Math.floor(box.top_row * height);
  return { left, top, width: Math.ceil(box.right_col * width) - left, height: Math.ceil(box.bottom_row * height) - top };
}

async function listKeys(prefix: string): Promise<string[]> {
  const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: services.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

describe('image-crop', () => {
  it('cuts the pixels of each region', async () => {
    const regions = detection.data.regions ?? [];
    expect(regions.length).toBeGreaterThanOrEqual(6);

    const output = await runOperator(imageCrop, {}, nodeEvent(imageCrop, { image: pageImage, upstream: [detection] }));

    expect(output.crops).toHaveLength(regions.length);
    for (const [index, crop] of (output.crops ?? []).entries()) {
      const region = regions[index];
      const rect = pixelsOf(region?.region_info.bounding_box as BoundingBox, PAGE_WIDTH, PAGE_HEIGHT);
      const actual = await cropPixels(crop.image);
      expect([actual.width, actual.height], `crop ${index}`).toEqual([rect.width, rect.height]);
      expect(actual.pixels.equals(await expectedPixels(pageBytes, rect)), `crop ${index} pixels`).toBe(true);
      expect(crop.region.id).toBe(region?.id);
      expect(crop.region.data.concepts).toEqual(region?.data.concepts);
      expect(crop.region.region_info.bounding_box.left_col).toBeCloseTo(rect.left / PAGE_WIDTH, 10);
      expect(crop.region.region_info.bounding_box.bottom_row).toBeCloseTo((rect.top + rect.height) / PAGE_HEIGHT, 10);
      expect(crop.image.key).toBe(`derived/uploads/main/page.png/image-crop-node/crop-${region?.id}.png`);
    }
    expect(output.data.regions).toEqual(regions);
  });

  it('grows crops by the margin', async () => {
    const [region] = detection.data.regions ?? [];
    const single = { ...detection, data: { regions: [region!] } };

    const output = await runOperator(imageCrop, { model_metadata: { margin: 0.1 } }, nodeEvent(imageCrop, { image: pageImage, upstream: [single] }));

    const box = region!.region_info.bounding_box;
    const marginX = 0.1 * (box.right_col - box.left_col) * PAGE_WIDTH;
    const marginY = 0.1 * (box.bottom_row - box.top_row) * PAGE_HEIGHT;
    const left = Math.max(0, Math.floor(box.left_col * PAGE_WIDTH - marginX));
    const top = Math.max(0, Math.floor(box.top_row * PAGE_HEIGHT - marginY));
    const right = Math.min(PAGE_WIDTH, Math.ceil(box.right_col * PAGE_WIDTH + marginX));
    const bottom = Math.min(PAGE_HEIGHT, Math.ceil(box.bottom_row * PAGE_HEIGHT + marginY));
    const rect = { left, top, width: right - left, height: bottom - top };
    const actual = await cropPixels(output.crops![0]!.image);
    expect([actual.width, actual.height]).toEqual([rect.width, rect.height]);
    expect(actual.pixels.equals(await expectedPixels(pageBytes, rect))).toBe(true);
    expect(rect.width).toBeGreaterThan(pixelsOf(box, PAGE_WIDTH, PAGE_HEIGHT).width);
  });

  it('feeds crops a classifier reads', async () => {
    const heading = PAGE_LINES['heading words'];
    const region = {
      id: 'heading',
      region_info: {
        bounding_box: {
          top_row: heading.top / PAGE_HEIGHT,
          left_col: heading.left / PAGE_WIDTH,
          bottom_row: (heading.top + heading.height) / PAGE_HEIGHT,
          right_col: (heading.left + heading.width) / PAGE_WIDTH,
        },
      },
      data: { concepts: [{ id: 'text', name: 'text', value: 1 }] },
    };

    const output = await runOperator(imageCrop, {}, nodeEvent(imageCrop, { image: pageImage, upstream: [{ ...detection, data: { regions: [region] } }] }));

    const cropBytes = await getImageBytes(output.crops![0]!.image, 10_000_000);
    const [orientation] = await predict('ocr-text-orientation', [await decodeForModel(cropBytes)]);
    expect(orientation?.concepts?.[0]?.id).toBe('rotation-0');
  });

  it('overwrites its crops on a rerun', async () => {
    const event = nodeEvent(imageCrop, { image: pageImage, upstream: [detection], nodeId: 'rerun-crop' });

    await runOperator(imageCrop, {}, event);
    const first = await listKeys('derived/uploads/main/page.png/rerun-crop/');
    await runOperator(imageCrop, {}, event);
    const second = await listKeys('derived/uploads/main/page.png/rerun-crop/');

    expect(first).toHaveLength(detection.data.regions?.length ?? -1);
    expect(second).toEqual(first);
  });

  it('crops a crop in input coordinates', async () => {
    // The lower half of the page, stored as the crop a previous cropper made.
    const lowerHalf = { left: 0, top: 96, width: PAGE_WIDTH, height: 95 };
    const cropImage = await uploadImage(services.bucket, 'derived/uploads/main/page.png/upstream/lower.png', await sharp(pageBytes).extract(lowerHalf).png().toBuffer());
    const crop = {
      image: cropImage,
      region: {
        id: 'lower-half',
        region_info: { bounding_box: { top_row: 96 / PAGE_HEIGHT, left_col: 0, bottom_row: 1, right_col: 1 } },
        data: { concepts: [] },
      },
    };
    const onCrop = await modelOutput('detection', 'ocr-text-detector', await getImageBytes(cropImage, 10_000_000));
    const [region] = onCrop.data.regions ?? [];
    expect(region).toBeDefined();

    const output = await runOperator(imageCrop, {}, nodeEvent(imageCrop, { image: pageImage, crop, upstream: [{ ...onCrop, data: { regions: [region!] } }] }));

    const inCrop = pixelsOf(region!.region_info.bounding_box, lowerHalf.width, lowerHalf.height);
    const inPage = { ...inCrop, top: inCrop.top + lowerHalf.top };
    const actual = await cropPixels(output.crops![0]!.image);
    expect(actual.pixels.equals(await expectedPixels(pageBytes, inPage))).toBe(true);
    const box = output.crops![0]!.region.region_info.bounding_box;
    expect(box.top_row).toBeCloseTo(inPage.top / PAGE_HEIGHT, 10);
    expect(box.bottom_row).toBeCloseTo((inPage.top + inPage.height) / PAGE_HEIGHT, 10);
    expect(output.crops![0]!.image.key).toBe(`derived/uploads/main/page.png/image-crop-node/lower-half/crop-${region!.id}.png`);
  });

  it('skips regions without concepts', async () => {
    // The engine's merge of a per-crop detector adds such a region for a crop with no detections.
    const [region] = detection.data.regions ?? [];
    const empty = { ...region!, id: 'empty-tile', data: { concepts: [] } };

    const output = await runOperator(imageCrop, {}, nodeEvent(imageCrop, { image: pageImage, upstream: [{ ...detection, data: { regions: [empty, region!] } }] }));

    expect(output.crops?.map((crop) => crop.region.id)).toEqual([region!.id]);
    expect(output.data.regions).toEqual([region]);
  });

  it('returns no crops without regions', async () => {
    // The image is never read: its bucket does not exist.
    const output = await runOperator(imageCrop, {}, nodeEvent(imageCrop, { image: { bucket: 'missing', key: 'x' }, upstream: [{ ...detection, data: { regions: [] } }] }));

    expect(output.crops).toEqual([]);
  });

  it('rejects a margin above 1', () => {
    expect(() => imageCrop.validateParams({ concepts: [], model_metadata: { margin: 10 } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid image-crop parameter output_info.output_config.model_metadata.margin: got 10. Set it to a number ' +
          "from 0 to 1: the space added on each side as a fraction of the region's width and height.",
      }),
    );
  });
});
