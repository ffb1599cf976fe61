/**
 * Objects in the bucket: uploads written by the API and read by the model functions, and
 * the objects workflow nodes derive from them (crops, embedding vectors).
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '#commons/aws/clients.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';

export interface ObjectRef {
  bucket: string;
  key: string;
  version_id?: string;
}

/** Object key under which `POST /v2/inputs` stores an input's image. */
export function uploadKey(uploadsPrefix: string, appId: string, inputId: string): string {
  return `${uploadsPrefix}${appId}/${inputId}`;
}

export async function putImage(ref: ObjectRef, bytes: Buffer): Promise<void> {
  await s3Client().send(new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: bytes }));
}

/** Writes any object, such as an embedding vector a workflow node derived. */
export async function putObject(ref: ObjectRef, bytes: Buffer, contentType: string): Promise<void> {
  await s3Client().send(new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: bytes, ContentType: contentType }));
}

/**
 * Reads an image object, rejecting it with `FILE_TOO_LARGE` before the download when it
 * is larger than `maxBytes`.
 */
export async function getImageBytes(ref: ObjectRef, maxBytes: number): Promise<Buffer> {
  const response = await s3Client().send(
    new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.version_id }),
  );
  const size = response.ContentLength ?? 0;
  if (size > maxBytes) {
    response.Body?.transformToWebStream().cancel().catch(() => undefined);
    throw new InvalidInputError(
      'FILE_TOO_LARGE',
      `Object s3://${ref.bucket}/${ref.key} is ${size} bytes, more than the limit of ${maxBytes} bytes. Upload a smaller image, or raise IMAGE_MAX_BYTES.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const bytes = await response.Body?.transformToByteArray();
  return Buffer.from(bytes ?? new Uint8Array());
}

export async function deleteImage(ref: ObjectRef): Promise<void> {
  await s3Client().send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
}
