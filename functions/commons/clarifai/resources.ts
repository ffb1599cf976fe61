/**
 * Conversions from stored records to the Clarifai v2 JSON that clients read.
 */
import type { AnnotationRecord } from '#commons/storage/annotations.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';

export function toClarifaiInput(input: InputRecord): Record<string, unknown> {
  const { image } = input;
  const imageInfo =
    image.width === undefined ? undefined : { width: image.width, height: image.height, format: image.format };
  return {
    id: input.id,
    data: {
      image: { url: `s3://${image.bucket}/${image.key}`, image_info: imageInfo },
      metadata: input.metadata ?? {},
    },
    created_at: input.created_at,
    modified_at: input.modified_at,
    status: input.status,
  };
}

export function toClarifaiAnnotation(annotation: AnnotationRecord): Record<string, unknown> {
  return {
    id: annotation.id,
    input_id: annotation.input_id,
    data: annotation.data,
    model_version_id: annotation.model_version_id,
    worker: annotation.worker,
    status: annotation.status,
    created_at: annotation.created_at,
    modified_at: annotation.modified_at,
  };
}
