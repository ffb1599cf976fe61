/**
 * Turns a decoded image into a model's input tensor, as its manifest describes: resize with
 * sharp, then convert 8-bit HWC pixels to normalized float32 NCHW or NHWC.
 */
import { Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import type { DecodedImage } from '#commons/image/types.ts';
import type { InputGeometry } from '#commons/models/decoders/types.ts';
import type { InputSpec, ModelManifest, ResizeSpec } from '#commons/models/manifest.ts';

/** Channels of a `DecodedImage` and of the resized pixels: 8-bit RGB. */
const CHANNELS = 3;

/** Rec. 601 luma weights of R, G and B, as OpenCV's `COLOR_RGB2GRAY` uses. */
const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** Returns the number of channels of the model input tensor. */
function tensorChannels(input: InputSpec): number {
  return input.channel_order === 'GRAY' ? 1 : CHANNELS;
}

/** One image ready for the model, before batching. */
export interface PreparedInput {
  /** Tensor values of this image alone. */
  data: Float32Array;
  /** Tensor dimensions with a batch size of 1. */
  dims: number[];
  geometry: InputGeometry;
}

/** Computes the model input size and where the resized image sits inside it. */
export function planResize(resize: ResizeSpec, width: number, height: number): InputGeometry {
  switch (resize.mode) {
    case 'stretch':
      return geometry(resize.width, resize.height, 0, 0, resize.width, resize.height);
    case 'letterbox': {
      const scale = Math.min(resize.width / width, resize.height / height);
      const contentWidth = Math.max(1, Math.round(width * scale));
      const contentHeight = Math.max(1, Math.round(height * scale));
      const left = Math.floor((resize.width - contentWidth) / 2);
      const top = Math.floor((resize.height - contentHeight) / 2);
      return geometry(resize.width, resize.height, left, top, contentWidth, contentHeight);
    }
    case 'keep-aspect-pad': {
      const contentWidth = Math.max(1, Math.min(resize.width, Math.ceil((resize.height * width) / height)));
      return geometry(resize.width, resize.height, 0, 0, contentWidth, resize.height);
    }
    case 'long-side-multiple': {
      const shortSide = Math.min(width, height);
      const longSide = Math.max(width, height);
      let ratio = resize.min_side !== undefined && shortSide < resize.min_side ? resize.min_side / shortSide : 1;
      if (longSide * ratio > resize.max_side) {
        ratio = resize.max_side / longSide;
      }
      const roundToMultiple = (side: number): number =>
        Math.max(resize.multiple, Math.round(Math.floor(side * ratio) / resize.multiple) * resize.multiple);
      const inputWidth = roundToMultiple(width);
      const inputHeight = roundToMultiple(height);
      return geometry(inputWidth, inputHeight, 0, 0, inputWidth, inputHeight);
    }
  }
}

function geometry(
  inputWidth: number,
  inputHeight: number,
  contentLeft: number,
  contentTop: number,
  contentWidth: number,
  contentHeight: number,
): InputGeometry {
  return { inputWidth, inputHeight, contentLeft, contentTop, contentWidth, contentHeight };
}

function checkImage(image: DecodedImage): void {
  const { width, height, pixels } = image;
  const valid =
    Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && pixels.length === width * height * CHANNELS;
  if (!valid) {
    throw new Error(
      `A decoded image must hold width x height x 3 bytes: got ${pixels.length} bytes for ${width} x ${height}.`,
    );
  }
}

async function resizePixels(image: DecodedImage, width: number, height: number): Promise<Buffer> {
  if (image.width === width && image.height === height) {
    return image.pixels;
  }
  // Bilinear, like the cv2.resize calls that PaddleOCR and most model zoos preprocess with.
  const { data, info } = await sharp(image.pixels, {
    raw: { width: image.width, height: image.height, channels: CHANNELS },
  })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== CHANNELS) {
    throw new Error(`sharp returned ${info.channels} channels after resizing; expected ${CHANNELS}.`);
  }
  return data;
}

/** Converts RGB pixels to one channel of luma, kept as floats in 0..255. */
function toLuma(pixels: Buffer): Float32Array {
  const luma = new Float32Array(pixels.length / CHANNELS);
  for (let i = 0; i < luma.length; i++) {
    const red = pixels[i * CHANNELS] as number;
    const green = pixels[i * CHANNELS + 1] as number;
    const blue = pixels[i * CHANNELS + 2] as number;
    luma[i] = LUMA_WEIGHTS[0] * red + LUMA_WEIGHTS[1] * green + LUMA_WEIGHTS[2] * blue;
  }
  return luma;
}

/** Writes normalized pixels into a float32 tensor whose padding already contains `pad_value`. */
function fillTensor(input: InputSpec, rgb: Buffer, layout: InputGeometry): Float32Array {
  const { inputWidth, inputHeight, contentLeft, contentTop, contentWidth, contentHeight } = layout;
  const channels = tensorChannels(input);
  const data = new Float32Array(channels * inputWidth * inputHeight).fill(input.pad_value ?? 0);
  const pixels = input.channel_order === 'GRAY' ? toLuma(rgb) : rgb;
  const source = input.channel_order === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const { scale, mean, std } = input.normalization;
  // (pixel * scale - mean) / std, folded into one multiply and one add per value.
  const gain = std.map((deviation) => scale / deviation);
  const offset = mean.map((average, channel) => -average / (std[channel] as number));
  const plane = inputWidth * inputHeight;

  for (let channel = 0; channel < channels; channel++) {
    const from = source[channel] as number;
    const channelGain = gain[channel] as number;
    const channelOffset = offset[channel] as number;
    for (let y = 0; y < contentHeight; y++) {
      const row = (contentTop + y) * inputWidth + contentLeft;
      for (let x = 0; x < contentWidth; x++) {
        const value = (pixels[(y * contentWidth + x) * channels + from] as number) * channelGain + channelOffset;
        if (input.layout === 'NCHW') {
          data[channel * plane + row + x] = value;
        } else {
          data[(row + x) * channels + channel] = value;
        }
      }
    }
  }
  return data;
}

/** Resizes and normalizes one image into its tensor values and geometry. */
export async function prepareInput(manifest: ModelManifest, image: DecodedImage): Promise<PreparedInput> {
  checkImage(image);
  const layout = planResize(manifest.input.resize, image.width, image.height);
  const pixels = await resizePixels(image, layout.contentWidth, layout.contentHeight);
  const data = fillTensor(manifest.input, pixels, layout);
  const channels = tensorChannels(manifest.input);
  const dims =
    manifest.input.layout === 'NCHW'
      ? [1, channels, layout.inputHeight, layout.inputWidth]
      : [1, layout.inputHeight, layout.inputWidth, channels];
  return { data, dims, geometry: layout };
}

/** Stacks prepared inputs of equal size into one batch, keyed by the model's input name. */
export function toFeeds(manifest: ModelManifest, inputs: readonly PreparedInput[]): Record<string, Tensor> {
  const first = inputs[0];
  if (first === undefined) {
    throw new RangeError('toFeeds needs at least one prepared input.');
  }
  const itemSize = first.data.length;
  const batch = new Float32Array(itemSize * inputs.length);
  inputs.forEach((input, index) => {
    if (input.data.length !== itemSize) {
      throw new RangeError(`Inputs of different sizes cannot share a batch: ${input.dims.join('x')} vs ${first.dims.join('x')}.`);
    }
    batch.set(input.data, index * itemSize);
  });
  const [, ...rest] = first.dims;
  return { [manifest.input.tensor]: new Tensor('float32', batch, [inputs.length, ...rest]) };
}

/** Returns the feeds for one image (batch size 1), ready for `runSession`. */
export async function preprocess(manifest: ModelManifest, image: DecodedImage): Promise<Record<string, Tensor>> {
  return toFeeds(manifest, [await prepareInput(manifest, image)]);
}
