/**
 * The default workflow, defined once as data and turned into Amazon States Language.
 * CDK deploys this ASL; the local stack runs the same ASL with aws-local-stepfunctions.
 */
import type { ModelTypeId } from '#commons/clarifai/types.ts';

/** One model that the default workflow runs on every ingested input. */
export interface WorkflowNode {
  id: string;
  modelId: string;
  modelTypeId: ModelTypeId;
}

export const DEFAULT_WORKFLOW_ID = 'default';

/**
 * Every ingested image is tagged with the objects found in it and gets a general embedding
 * for similarity search, besides the text detection and orientation.
 */
export const DEFAULT_WORKFLOW_NODES: readonly WorkflowNode[] = [
  { id: 'text-detection', modelId: 'ocr-text-detector', modelTypeId: 'visual-detector' },
  { id: 'text-orientation', modelId: 'ocr-text-orientation', modelTypeId: 'visual-classifier' },
  { id: 'object-detection', modelId: 'general-object-detection', modelTypeId: 'visual-detector' },
  { id: 'image-embedding', modelId: 'general-image-embedding', modelTypeId: 'visual-embedder' },
];

/** Lambda functions the workflow calls, by role. Values are function ARNs (or CDK tokens). */
export interface WorkflowFunctionArns {
  models: Record<ModelTypeId, string>;
  writeAnnotations: string;
  recordFailure: string;
}

/**
 * Input of an execution, as the ingest handler starts it. `image` names the S3 object.
 */
export interface WorkflowExecutionInput {
  input: {
    app_id: string;
    id: string;
    image: { bucket: string; key: string; version_id?: string };
  };
}

// Errors of the Lambda service itself (throttling, a cold start that failed), not of our code.
const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

const RETRY_TRANSIENT = [
  { ErrorEquals: TRANSIENT_LAMBDA_ERRORS, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 },
];

/**
 * Builds the ASL of a workflow that runs `nodes` in parallel on one input, writes their
 * outputs as annotations and, on any error, records the failure on the input.
 * Task states name the Lambda ARN as `Resource`, so the local interpreter can map each
 * one to its handler.
 */
export function buildWorkflowDefinition(
  nodes: readonly WorkflowNode[],
  functions: WorkflowFunctionArns,
): Record<string, unknown> {
  const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }];

  const branches = nodes.map((node) => ({
    StartAt: node.id,
    States: {
      [node.id]: {
        Type: 'Task',
        Resource: functions.models[node.modelTypeId],
        Parameters: { 'input.$': '$.input', model_id: node.modelId, node_id: node.id },
        Retry: RETRY_TRANSIENT,
        End: true,
      },
    },
  }));

  return {
    Comment: 'Runs the models on one input, then stores their outputs as annotations.',
    StartAt: 'RunModels',
    States: {
      RunModels: {
        Type: 'Parallel',
        Branches: branches,
        ResultPath: '$.outputs',
        Catch: catchAll,
        Next: 'WriteAnnotations',
      },
      WriteAnnotations: {
        Type: 'Task',
        Resource: functions.writeAnnotations,
        Parameters: { 'input.$': '$.input', 'outputs.$': '$.outputs' },
        Retry: RETRY_TRANSIENT,
        Catch: catchAll,
        End: true,
      },
      RecordFailure: {
        Type: 'Task',
        Resource: functions.recordFailure,
        Parameters: { 'input.$': '$.input', 'error.$': '$.error' },
        Retry: RETRY_TRANSIENT,
        Next: 'Failed',
      },
      Failed: {
        Type: 'Fail',
        Error: 'InputFailed',
        Cause: 'A model or the annotation writer failed; the input status holds the reason.',
      },
    },
  };
}

export function buildDefaultWorkflowDefinition(functions: WorkflowFunctionArns): Record<string, unknown> {
  return buildWorkflowDefinition(DEFAULT_WORKFLOW_NODES, functions);
}
