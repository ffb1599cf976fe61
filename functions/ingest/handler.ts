import { createHash } from 'node:crypto';
import { ExecutionAlreadyExists } from '@aws-sdk/client-sfn';
import type { Context, EventBridgeEvent, S3Event } from 'aws-lambda';
import { config } from '#commons/config.ts';
import { logger } from '#commons/logger.ts';
import { getAppSettings } from '#commons/storage/apps.ts';
import { DEFAULT_APP_ID, idFromFileName } from '#commons/storage/ids.ts';
import { InputStatus, createInputIfAbsent, findInput, setInputStatus } from '#commons/storage/inputs.ts';
import { claimObjectVersion, releaseObjectVersion } from '#commons/storage/processed-objects.ts';
import { findWorkflow } from '#commons/storage/workflows.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/compiler.ts';
import { DEFAULT_WORKFLOW_ID } from '#commons/workflows/default-workflow.ts';
import type { WorkflowInput } from '#commons/workflows/node-data.ts';
import { startWorkflowExecution } from '#commons/workflows/state-machines.ts';

/**
 * The `detail` of the "Object Created" event that S3 puts on EventBridge's default bus
 * for a bucket with EventBridge notifications turned on.
 */
export interface S3ObjectCreatedDetail {
  bucket: { name: string };
  object: { key: string; etag?: string; sequencer?: string; 'version-id'?: string };
}

export type IngestEvent = S3Event | EventBridgeEvent<'Object Created', S3ObjectCreatedDetail>;

/** One new object, from either event shape. */
interface ObjectEvent {
  eventName: string;
  bucket: string;
  /** Decoded key. */
  key: string;
  versionId: string | undefined;
  eTag: string | undefined;
  sequencer: string | undefined;
}

/**
 * Ingest target: each new object under the uploads prefix becomes (or is matched to) an
 * input, which then goes through the app's default workflow: the workflow set with
 * `PATCH /v2/apps` (`default_workflow_id`), or else the built-in one.
 *
 * Two events arrive: S3 notifications from the Percept bucket, and "Object Created"
 * events that an EventBridge rule forwards (from any bucket that sends its events to
 * EventBridge). Keys are `<prefix><app_id>/<input_id>`, or `<prefix><file name>` for the
 * default app. See `parseUploadKey` for how other keys map to ids.
 */
export async function handler(event: IngestEvent, context?: Context): Promise<void> {
  logger.addContext(context ?? ({} as Context));

  for (const objectEvent of objectEventsOf(event)) {
    await ingestObject(objectEvent);
  }
}

function objectEventsOf(event: IngestEvent): ObjectEvent[] {
  if ('Records' in event) {
    return event.Records.map((record) => ({
      eventName: record.eventName,
      bucket: record.s3.bucket.name,
      // Keys in S3 notifications are URL-encoded, with '+' for spaces.
      key: decodeURIComponent(record.s3.object.key.replace(/\+/g, ' ')),
      versionId: record.s3.object.versionId,
      eTag: record.s3.object.eTag,
      sequencer: record.s3.object.sequencer,
    }));
  }
  // EventBridge carries the key decoded.
  return [
    {
      eventName: event['detail-type'] === 'Object Created' ? 'ObjectCreated:EventBridge' : event['detail-type'],
      bucket: event.detail.bucket.name,
      key: event.detail.object.key,
      versionId: event.detail.object['version-id'],
      eTag: event.detail.object.etag,
      sequencer: event.detail.object.sequencer,
    },
  ];
}

async function ingestObject(record: ObjectEvent): Promise<void> {
  const { bucket, key } = record;
  const target = parseUploadKey(key, config.uploadsPrefix);

  if (!record.eventName.startsWith('ObjectCreated:') || target === undefined) {
    logger.info('object skipped: not a new upload', { bucket, key, eventName: record.eventName });
    return;
  }

  const versionId = record.versionId;
  const version = versionId ?? `etag-${record.eTag ?? 'none'}-${record.sequencer}`;
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
  } else if (existing.image.key !== key || existing.image.bucket !== bucket) {
    logger.warn('input id already used by another object; object skipped', {
      existingBucket: existing.image.bucket,
      existingKey: existing.image.key,
    });
    return;
  }

  await setInputStatus(target.appId, target.inputId, InputStatus.inProgress(), image);

  const metadata = existing?.metadata;
  const input: WorkflowInput = {
    app_id: target.appId,
    id: target.inputId,
    image,
    ...(metadata === undefined ? {} : { metadata }),
  };
  const { default_workflow_id: appWorkflowId } = await getAppSettings(target.appId);
  const workflow = appWorkflowId === undefined ? builtinWorkflow() : await appWorkflow(input, appWorkflowId);
  if (workflow === undefined) {
    return;
  }

  const name = executionName(bucket, key, version);
  const executionInput: WorkflowExecutionInput = { input, mode: 'ingest' };
  try {
    const executionArn = await startWorkflowExecution(workflow.stateMachineArn, name, executionInput);
    logger.info('workflow started', { executionArn, workflowId: workflow.id });
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) {
      logger.info('workflow already started for this object version', { workflowId: workflow.id });
      return;
    }
    throw error;
  }
}

interface StartableWorkflow {
  id: string;
  stateMachineArn: string;
}

function builtinWorkflow(): StartableWorkflow {
  return { id: DEFAULT_WORKFLOW_ID, stateMachineArn: config.defaultWorkflowArn };
}

// Looks up the app's own default workflow. If it was deleted meanwhile (the API refuses to
// delete a default workflow, so only a race gets here), the input is marked FAILED
// rather than left pending.
async function appWorkflow(input: WorkflowInput, workflowId: string): Promise<StartableWorkflow | undefined> {
  const workflow = await findWorkflow(input.app_id, workflowId);
  if (workflow === undefined) {
    const message = `The app's default workflow ${JSON.stringify(workflowId)} does not exist. Set default_workflow_id with PATCH /v2/apps, then upload the image again.`;
    await setInputStatus(input.app_id, input.id, InputStatus.failed('WORKFLOW_NOT_FOUND', message));
    logger.error('default workflow missing', { workflowId });
    return undefined;
  }
  return { id: workflow.id, stateMachineArn: workflow.state_machine_arn };
}

/**
 * Returns the app and input id that an uploads key names, or undefined outside the prefix.
 * The first folder below the prefix is the app. The rest of the key is the input id, with
 * `/` and other characters an id cannot contain replaced by `-`.
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
