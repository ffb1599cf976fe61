/**
 * Input routes: add images (stored in S3, which starts the default workflow), list,
 * read and delete inputs, and read the annotations the workflow wrote.
 */
import { toClarifaiAnnotation, toClarifaiInput } from '#commons/clarifai/resources.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { decodeInputImage, inputIdOf, inputsOf, metadataOf } from '#commons/http/image-input.ts';
import { okStatus } from '#commons/http/responses.ts';
import { imageLimitsFromEnv } from '#commons/image/decode.ts';
import { logger } from '#commons/logger.ts';
import { deleteAnnotations, listAnnotations } from '#commons/storage/annotations.ts';
import { deleteImage, putImage, uploadKey } from '#commons/storage/images.ts';
import {
  type InputRecord,
  InputStatus,
  createInput,
  deleteInputRecord,
  getInput,
  listInputs,
} from '#commons/storage/inputs.ts';

/** Clarifai accepts at most 128 inputs in one `POST /v2/inputs`. */
export const MAX_NEW_INPUTS = 128;

interface NewInput {
  record: InputRecord;
  bytes: Buffer;
}

export async function createInputsRoute(request: ApiRequest): Promise<unknown> {
  const inputs = inputsOf(request.body, MAX_NEW_INPUTS);
  const prepared = await prepareInputs(request.appId, inputs);

  const stored: InputRecord[] = [];
  for (const { record, bytes } of prepared) {
    await createInput(record);
    try {
      // The object's creation event starts the default workflow.
      await putImage(record.image, bytes);
    } catch (error) {
      await deleteInputRecord(record.app_id, record.id);
      throw error;
    }
    stored.push(record);
  }

  logger.info('inputs added', { appId: request.appId, inputIds: stored.map((record) => record.id) });
  return { status: okStatus(request.requestId), inputs: stored.map(toClarifaiInput) };
}

// Validates every input (id, image, metadata) before storing any, so that a bad input
// rejects the request without leaving half of it behind.
async function prepareInputs(appId: string, inputs: unknown[]): Promise<NewInput[]> {
  const limits = imageLimitsFromEnv();
  const seenIds = new Set<string>();
  const prepared: NewInput[] = [];

  for (const [index, input] of inputs.entries()) {
    const id = inputIdOf(input, index);
    if (seenIds.has(id)) {
      throw new InvalidInputError(
        'INPUT_DUPLICATE',
        `inputs[${index}].id ${JSON.stringify(id)} appears more than once in the request. Give each input its own id.`,
        StatusCode.INPUT_DUPLICATE,
      );
    }
    seenIds.add(id);

    const metadata = metadataOf(input, index);
    const { bytes, image } = await decodeInputImage(input, index, limits);

    const now = new Date().toISOString();
    prepared.push({
      bytes,
      record: {
        app_id: appId,
        id,
        created_at: now,
        modified_at: now,
        image: {
          bucket: config.bucketName,
          key: uploadKey(config.uploadsPrefix, appId, id),
          width: image.width,
          height: image.height,
          format: image.format,
        },
        metadata,
        status: InputStatus.pending(),
        source: 'api',
      },
    });
  }
  return prepared;
}

export async function listInputsRoute(request: ApiRequest): Promise<unknown> {
  const inputs = await listInputs(request.appId, parsePaging(request.query));
  return { status: okStatus(request.requestId), inputs: inputs.map(toClarifaiInput) };
}

export async function getInputRoute(request: ApiRequest): Promise<unknown> {
  const input = await getInput(request.appId, request.pathParameters.input_id ?? '');
  return { status: okStatus(request.requestId), input: toClarifaiInput(input) };
}

export async function deleteInputRoute(request: ApiRequest): Promise<unknown> {
  const input = await getInput(request.appId, request.pathParameters.input_id ?? '');
  await deleteAnnotations(input.app_id, input.id);
  // An image ingested from another bucket (through EventBridge) belongs to that bucket's owner.
  if (input.image.bucket === config.bucketName) {
    await deleteImage(input.image);
  }
  await deleteInputRecord(input.app_id, input.id);
  logger.info('input deleted', { appId: input.app_id, inputId: input.id });
  return { status: okStatus(request.requestId) };
}

export async function listInputAnnotationsRoute(request: ApiRequest): Promise<unknown> {
  const input = await getInput(request.appId, request.pathParameters.input_id ?? '');
  const annotations = await listAnnotations(input.app_id, input.id);
  return { status: okStatus(request.requestId), annotations: annotations.map(toClarifaiAnnotation) };
}
