/**
 * Photo variants and model requests shared by the deep-training tests of a visual-classifier
 * and a visual-detector.
 */
import path from 'node:path';
import sharp from 'sharp';
import type { LocalStack } from '../../local/stack.ts';
import { IMAGES_DIR, callApi, waitForInput } from './helpers.ts';

export type Image = ReturnType<typeof sharp>;

/** Edits that turn one fixture photo into four training inputs, and whether each mirrors the image left to right. */
export const VARIANTS: Record<string, { transform: (image: Image) => Image; mirrored: boolean }> = {
  plain: { transform: (image) => image, mirrored: false },
  flipped: { transform: (image) => image.flop(), mirrored: true },
  bright: { transform: (image) => image.modulate({ brightness: 1.25 }), mirrored: false },
  dark: { transform: (image) => image.modulate({ brightness: 0.8 }), mirrored: false },
};

/** Returns a fixture photo resized to 160 pixels wide, edited by `transform`, as base64 JPEG. */
export async function photoVariant(file: string, transform: (image: Image) => Image): Promise<string> {
  const resized = await sharp(path.join(IMAGES_DIR, file)).resize({ width: 160 }).toBuffer();
  return (await transform(sharp(resized)).jpeg({ quality: 90 }).toBuffer()).toString('base64');
}

/** Returns a mirrored, darkened and blurred variant of a fixture photo, unlike every training variant. */
export async function unseenVariant(file: string): Promise<string> {
  return photoVariant(file, (image) => image.flop().modulate({ brightness: 0.9 }).blur(1));
}

/** Returns the body of POST /v2/models for a deep-training model of the given type and concepts. */
export function deepModelRequest(id: string, modelTypeId: string, concepts: readonly string[], params: Record<string, unknown>) {
  return {
    model: {
      id,
      model_type_id: modelTypeId,
      output_info: { data: { concepts: concepts.map((concept) => ({ id: concept })) } },
      train_info: { params },
    },
  };
}

/** Adds inputs through POST /v2/inputs and waits until the stack has processed each of them. */
export async function addInputs(stack: LocalStack, inputs: Array<{ id: string; data: Record<string, unknown> }>): Promise<void> {
  const added = await callApi(stack, 'POST', '/v2/inputs', { inputs });
  if (added.httpStatus !== 200) {
    throw new Error(`Adding the inputs failed: ${JSON.stringify(added.body)}`);
  }
  for (const input of inputs) {
    await waitForInput(stack, input.id);
  }
}
