import { createHash } from 'node:crypto';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context, S3Event, S3EventRecord } from 'aws-lambda';
import { stepFunctionsClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { logger } from '#commons/logger.ts';
import { DEFAULT_APP_ID, idFromFileName } from '#commons/storage/ids.ts';
import { InputStatus, createInputIfAbsent, findInput, setInputStatus } from '#commons/storage/inputs.ts';
import { claimObjectVersion, releaseObjectVersion } from '#commons/storage/processed-objects.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';

/**
 * S3 notification target: each new object under the uploads prefix becomes (or is
 * matched to) an input, which then goes through the app's default workflow.
 *
 * Keys are `<prefix><app_id>/<input_id>`, or `<prefix><file name>` for the default app.
 * See `parseUploadKey` for how other keys map to ids.
 */
export async function handler(event: S3Event, context?: Context): Promise<void> {
  logger.addContext(context ?? ({} as Context));

  for (const record of event.Records) {
    await ingestRecord(record);
  }
}

async function ingestRecord(record: S3EventRecord): Promise<void> {
  const bucket = record.s3.bucket.name;
  // Keys in S3 events are URL-encoded, with '+' for spaces.
  const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
  const target = parseUploadKey(key, config.uploadsPrefix);

  if (!record.eventName.startsWith('ObjectCreated:') || target === undefined) {
    logger.info('object skipped: not a new upload', { bucket, key, eventName: record.eventName });
    return;
  }

  const versionId = record.s3.object.versionId;
  const version = versionId ?? `etag-${record.s3.object.eTag ?? 'none'}-${record.s3.object.sequencer}`;
  logger.appendKeys({ appId: target.appId, inputId: target.inputId, bucket, key, version });

  try {
    if (!(await claimObjectVersion(bucket, key, version))) {
      logger.info('duplicate S3 event ignored');
      return;
    }

    try {
      await startInput({ bucket, key, versionId, version }, target);
    } catch (error) {
      // Give the version back so S3's retry of this event can process it.
      await releaseObjectVersion(bucket, key, version);
      throw error;
    }
  } catch (error) {
    logger.error('ingest failed', { error });
    throw error;
  } finally {
    logger.resetKeys();
  }
}

interface UploadedObject {
  bucket: string;
  key: string;
  /** S3's version id, present when the bucket has versioning on. */
  versionId: string | undefined;
  /** The version id, or the ETag and event sequencer where there is none. */
  version: string;
}

async function startInput(
  { bucket, key, versionId, version }: UploadedObject,
  target: { appId: string; inputId: string },
): Promise<void> {
  const now = new Date().toISOString();
  const image = versionId === undefined ? { bucket, key } : { bucket, key, version_id: versionId };

  const existing = await findInput(target.appId, target.inputId);
  if (existing === undefined) {
    await createInputIfAbsent({
      app_id: target.appId,
      id: target.inputId,
      created_at: now,
      modified_at: now,
      image,
      status: InputStatus.pending(),
      source: 'bucket',
    });
  } else if (existing.image.key !== key) {
    logger.warn('input id already used by another object; object skipped', { existingKey: existing.image.key });
    return;
  }

  await setInputStatus(target.appId, target.inputId, InputStatus.inProgress(), image);

  const executionInput: WorkflowExecutionInput = { input: { app_id: target.appId, id: target.inputId, image } };
  try {
    const { executionArn } = await stepFunctionsClient().send(
      new StartExecutionCommand({
        stateMachineArn: config.defaultWorkflowArn,
        name: executionName(bucket, key, version),
        input: JSON.stringify(executionInput),
      }),
    );
    logger.info('workflow started', { executionArn });
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) {
      logger.info('workflow already started for this object version');
      return;
    }
    throw error;
  }
}

/**
 * Returns the app and input id that an uploads key names, or undefined outside the prefix.
 * The first folder below the prefix is the app; the rest of the key, with `/` and other
 * characters an id cannot contain replaced by `-`, is the input id.
 */
export function parseUploadKey(key: string, prefix: string): { appId: string; inputId: string } | undefined {
  if (!key.startsWith(prefix) || key.endsWith('/')) {
    return undefined;
  }
  const [first, ...rest] = key.slice(prefix.length).split('/');
  if (rest.length === 0) {
    return { appId: DEFAULT_APP_ID, inputId: idFromFileName(first ?? '') };
  }
  return { appId: idFromFileName(first ?? ''), inputId: idFromFileName(rest.join('/')) };
}

// Execution names are at most 80 characters of [A-Za-z0-9-_]; a hash of the object
// version makes a duplicate start fail with ExecutionAlreadyExists instead of running twice.
function executionName(bucket: string, key: string, version: string): string {
  return `input-${createHash('sha256').update(`${bucket}/${key}#${version}`).digest('hex').slice(0, 64)}`;
}
