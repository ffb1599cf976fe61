/**
 * `POST /v2/workflows/{id}/results`: runs a workflow's state machine once per image sent
 * in the request and returns every node's output in Clarifai's shape. The images are not
 * added to the app: they are stored under `workflow-runs/` for the executions to read, and
 * removed with the objects the nodes derived from them once the results are read.
 */
import { randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Client } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { StatusCode } from '#commons/errors.ts';
import type { ApiRequest } from '#commons/http/api-event.ts';
import { decodeInputImage, inputIdOf, inputsOf, metadataOf } from '#commons/http/image-input.ts';
import { okStatus } from '#commons/http/responses.ts';
import { imageLimitsFromEnv } from '#commons/image/decode.ts';
import { logger } from '#commons/logger.ts';
import { putImage } from '#commons/storage/images.ts';
import type { WorkflowRecord } from '#commons/storage/workflows.ts';
import { DERIVED_PREFIX, type NodeOutput, type WorkflowInput } from '#commons/workflows/node-data.ts';
import {
  type CollectedState,
  type WorkflowFailure,
  collectNodeOutputs,
  describeWorkflowFailure,
  inlineEmbeddings,
} from '#commons/workflows/outputs.ts';
import { type SyncExecutionResult, runWorkflowSync } from '#commons/workflows/state-machines.ts';

/** Inputs accepted in one results request. */
export const MAX_WORKFLOW_INPUTS = 32;

/** Folder of the bucket holding the images of results requests while they run. */
export const WORKFLOW_RUNS_PREFIX = 'workflow-runs/';

interface RunInput {
  input: WorkflowInput;
  bytes: Buffer;
}

export async function runWorkflowOnImages(
  record: WorkflowRecord,
  request: ApiRequest,
): Promise<{ status: Status; results: Array<Record<string, unknown>> }> {
  const runPrefix = `${WORKFLOW_RUNS_PREFIX}${request.appId}/${randomUUID()}/`;
  const runs = await prepareRunInputs(inputsOf(request.body, MAX_WORKFLOW_INPUTS), request.appId, runPrefix);

  try {
    await Promise.all(runs.map((run) => putImage(run.input.image, run.bytes)));
    // NOTE: API Gateway ends an HTTP API request after 30 s, so a request whose slowest
    // input takes longer gets API Gateway's 503 while its executions still finish.
    const executions = await Promise.all(
      runs.map((run) => runWorkflowSync(record.state_machine_arn, { input: run.input, mode: 'results' })),
    );
    const results = await Promise.all(executions.map((execution, index) => toResult(execution, (runs[index] as RunInput).input)));

    const failed = results.filter((result) => (result.status as Status).code !== StatusCode.SUCCESS).length;
    logger.info('workflow results', { workflowId: record.id, inputs: runs.length, failed });
    return { status: overallStatus(request.requestId, failed, results.length), results };
  } finally {
    await removeRunObjects(runPrefix);
  }
}

// Every image is checked before any execution starts, so a bad one fails the request
// without running the workflow, and the error names the input by its position.
async function prepareRunInputs(inputs: unknown[], appId: string, runPrefix: string): Promise<RunInput[]> {
  const limits = imageLimitsFromEnv();
  const prepared: RunInput[] = [];
  for (const [index, input] of inputs.entries()) {
    const id = inputIdOf(input, index);
    const metadata = metadataOf(input, index);
    const { bytes } = await decodeInputImage(input, index, limits);
    prepared.push({
      bytes,
      input: {
        app_id: appId,
        id,
        image: { bucket: config.bucketName, key: `${runPrefix}${index}` },
        ...(metadata === undefined ? {} : { metadata }),
        transient: true,
      },
    });
  }
  return prepared;
}

async function toResult(execution: SyncExecutionResult, input: WorkflowInput): Promise<Record<string, unknown>> {
  const base = {
    id: randomUUID().replaceAll('-', ''),
    created_at: new Date().toISOString(),
    input: { id: input.id, data: { metadata: input.metadata ?? {} } },
  };
  if (execution.status !== 'SUCCEEDED') {
    const { code, message } = describeExecutionFailure(execution);
    return {
      ...base,
      status: { code: StatusCode.FAILURE, description: 'Failure', details: message, error_code: code },
      outputs: [],
    };
  }

  const state = JSON.parse(execution.output ?? '{}') as CollectedState;
  const outputs = await Promise.all(collectNodeOutputs(state).map(toClarifaiOutput));
  return { ...base, status: { code: StatusCode.SUCCESS, description: 'Ok' }, outputs };
}

async function toClarifaiOutput(output: NodeOutput): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = { ...(await inlineEmbeddings(output.data)) };
  if (output.metadata !== undefined) {
    data.metadata = output.metadata;
  }
  const status: Status =
    output.skipped === true
      ? { code: StatusCode.SUCCESS, description: 'Ok', details: 'Not run: an upstream node dropped the input or routed it to other nodes.' }
      : { code: StatusCode.SUCCESS, description: 'Ok' };
  return {
    id: randomUUID().replaceAll('-', ''),
    status,
    created_at: new Date().toISOString(),
    model: output.model,
    data,
  };
}

function describeExecutionFailure(execution: SyncExecutionResult): { code: string; message: string } {
  if (execution.status === 'TIMED_OUT') {
    return { code: 'WORKFLOW_TIMED_OUT', message: 'The workflow did not finish within the time limit of its state machine.' };
  }
  const failure: WorkflowFailure = { error: execution.error ?? 'States.Runtime' };
  return describeWorkflowFailure(execution.cause === undefined ? failure : { ...failure, cause: execution.cause });
}

function overallStatus(requestId: string, failed: number, total: number): Status {
  if (failed === 0) {
    return okStatus(requestId);
  }
  if (failed === total) {
    return { code: StatusCode.FAILURE, description: 'Failure', details: 'The workflow failed on every input; see results[].status.', req_id: requestId };
  }
  return { code: StatusCode.MIXED_STATUS, description: 'Mixed Success', details: `The workflow failed on ${failed} of ${total} inputs; see results[].status.`, req_id: requestId };
}

// NOTE: removal is best effort; the bucket's lifecycle rule expires what a failed removal
// leaves under these prefixes.
async function removeRunObjects(runPrefix: string): Promise<void> {
  try {
    for (const prefix of [runPrefix, `${DERIVED_PREFIX}${runPrefix}`]) {
      let token: string | undefined;
      do {
        const listed = await s3Client().send(
          new ListObjectsV2Command({ Bucket: config.bucketName, Prefix: prefix, ContinuationToken: token }),
        );
        const keys = (listed.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [{ Key: object.Key }]));
        if (keys.length > 0) {
          await s3Client().send(new DeleteObjectsCommand({ Bucket: config.bucketName, Delete: { Objects: keys, Quiet: true } }));
        }
        token = listed.NextContinuationToken;
      } while (token !== undefined);
    }
  } catch (error) {
    logger.warn('removing the objects of a results run failed', { runPrefix, error });
  }
}
