/**
 * The local stack: the same handlers as on AWS, wired to local stand-ins for each
 * service. DynamoDB is dynalite, S3 is s3rver (its object events call the ingest
 * handler), Step Functions is aws-local-stepfunctions running the CDK's ASL and the
 * workflows the API creates, EventBridge is a small endpoint that records events and
 * runs the ingest rule, and the HTTP API is a small server that calls the authorizer and
 * API handlers. S3 Vectors is a small endpoint with exact search, the store of the
 * `s3-vectors` search backend; it runs with either backend.
 *
 * SageMaker is a small endpoint (local/sagemaker.ts) that runs training jobs as Python child
 * processes and inference components as serving child processes. Its job events reach the
 * deep-training job-state handler through a local EventBridge rule. Queued clusterer versions
 * reach the clusterer training handler the same way, and it runs in this process.
 *
 * A second bucket, `<bucket>-external`, stands for a bucket outside Percept that sends
 * its object events to EventBridge: objects written under its `uploads/` folder reach
 * the ingest function through an EventBridge rule instead of an S3 notification.
 *
 * Handlers reach the stand-ins only through the SDK's `AWS_ENDPOINT_URL_<SERVICE>`
 * variables, so the handler code is the same locally and on AWS.
 */
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { logger } from '#commons/logger.ts';
import { modelVersionId } from '#commons/models/index.ts';
import { type CompilerFunctionArns, compileWorkflow } from '#commons/workflows/compiler.ts';
import {
  DEFAULT_WORKFLOW,
  defaultWorkflowModelIds,
  resolveDefaultWorkflowModels,
} from '#commons/workflows/default-workflow.ts';
import { type LocalEvent, startLocalEventBridge } from './eventbridge.ts';
import {
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LambdaHandler,
  type LocalFunction,
  invokeLocal,
  localFunctionArn,
  localInvocationCounts,
} from './lambda.ts';
import { startLocalHttpApi } from './http-api.ts';
import { startLocalS3Vectors } from './s3-vectors.ts';
import { closeServer, localStateMachineArn, startLocalStepFunctions } from './step-functions.ts';
import { provisionLocalDeepModels, startLocalSageMaker } from './sagemaker.ts';
import { DEFAULT_RESOURCE_PREFIX, trainingJobStatePattern } from '#commons/deep-training/settings.ts';
import { clusterTrainingPattern } from '#commons/cluster/training-events.ts';

export interface LocalStackOptions {
  /** Port of the HTTP API. @default 8080 */
  port?: number;
  /** Port of the local S3 endpoint; 0 picks a free one. @default 0 */
  s3Port?: number;
  /** Folder for the table and bucket contents; in memory (table) and a temp folder (bucket) when unset. */
  dataDir?: string;
  /** API key to register for the default app; a new one is generated when unset. */
  apiKey?: string;
  tableName?: string;
  bucketName?: string;
  /**
   * Search backend of the handlers (`SEARCH_BACKEND`). The local S3 Vectors endpoint runs
   * with either, so switching needs only this setting.
   * @default the `SEARCH_BACKEND` environment variable, else `ivf`
   */
  searchBackend?: string;
}

export interface LocalStack {
  apiUrl: string;
  apiKey: string;
  bucketName: string;
  /** The bucket whose object events reach ingest through EventBridge. */
  externalBucketName: string;
  tableName: string;
  s3Endpoint: string;
  /** Endpoint of the local S3 Vectors service, the `s3-vectors` search backend's store. */
  s3VectorsEndpoint: string;
  /** The vector bucket of the `s3-vectors` search backend, created at start. */
  vectorBucketName: string;
  /** The search backend that the handlers use. */
  searchBackend: string;
  /** Name of the event bus that workflows put their completion events on. */
  eventBusName: string;
  /** Endpoint of the local SageMaker (control plane, runtime and Application Auto Scaling). */
  sageMakerEndpoint: string;
  /** The training jobs that the local SageMaker ran, with their status. */
  trainingJobs(): Array<{ name: string; status: string; failureReason?: string }>;
  /** Resolves when no ingest event or workflow execution is still running. */
  idle(): Promise<void>;
  /** The workflow executions started so far, oldest first. */
  executions(): Array<{ name: string; stateMachineArn: string; status: string; error?: string }>;
  /** The ARNs of the state machines that exist now (the built-in ones and those the API created). */
  stateMachineArns(): string[];
  /** Every EventBridge event put so far, oldest first. */
  events(): LocalEvent[];
  /** How many times each local function was invoked, by function name. */
  invocationCounts(): Record<string, number>;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const tableName = options.tableName ?? 'percept';
  const bucketName = options.bucketName ?? 'percept-local';
  const externalBucketName = `${bucketName}-external`;
  const eventBusName = 'percept-events';
  const vectorBucketName = `${bucketName}-vectors`;
  const searchBackend = options.searchBackend ?? process.env.SEARCH_BACKEND ?? 'ivf';
  const dataDir = options.dataDir;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => logger.error('local service failed to stop', { error }));
    }
  };

  try {
    // DynamoDB
    if (dataDir !== undefined) {
      await mkdir(path.join(dataDir, 'dynamodb'), { recursive: true });
    }
    const dynamo = dynalite({ createTableMs: 0, path: dataDir === undefined ? undefined : path.join(dataDir, 'dynamodb') });
    await listen(dynamo, 0);
    stops.push(() => closeServer(dynamo));
    const dynamoEndpoint = `http://${HOST}:${(dynamo.address() as AddressInfo).port}`;

    // S3
    const s3Dir = path.join(dataDir ?? path.join(process.env.TMPDIR ?? '/tmp', `percept-s3-${process.pid}-${Date.now()}`), 's3');
    await mkdir(s3Dir, { recursive: true });
    const s3 = new S3rver({ address: HOST, port: options.s3Port ?? 0, directory: s3Dir, silent: true, configureBuckets: [{ name: bucketName, configs: [] }, { name: externalBucketName, configs: [] }] });
    const s3Address = await s3.run();
    stops.push(() => s3.close());
    const s3Endpoint = `http://${HOST}:${s3Address.port}`;

    // The handlers' environment, as CDK sets it on AWS.
    const workflowArn = localStateMachineArn('percept-default-workflow');
    const resultsWorkflowArn = localStateMachineArn('percept-default-workflow-results');
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      // s3rver accepts only its own fixed credentials; dynalite accepts any.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
      AWS_ENDPOINT_URL_S3: s3Endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      TABLE_NAME: tableName,
      BUCKET_NAME: bucketName,
      UPLOADS_PREFIX: 'uploads/',
      DEFAULT_WORKFLOW_ARN: workflowArn,
      DEFAULT_WORKFLOW_RESULTS_ARN: resultsWorkflowArn,
      EVENT_BUS_NAME: eventBusName,
      WORKFLOW_ROLE_ARN: `arn:aws:iam::${LOCAL_ACCOUNT}:role/percept-workflow`,
      WORKFLOW_NAME_PREFIX: 'percept-wf-',
    });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    await createTable(tableName, dynamoEndpoint);

    // S3 Vectors, the store of the `s3-vectors` search backend. It runs whichever backend
    // is chosen, so that SEARCH_BACKEND=s3-vectors is the only switch.
    const s3Vectors = await startLocalS3Vectors({
      dataDir: dataDir === undefined ? undefined : path.join(dataDir, 's3vectors'),
    });
    stops.push(() => s3Vectors.stop());
    await s3Vectors.ensureBucket(vectorBucketName);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_S3VECTORS: s3Vectors.endpoint,
      VECTOR_BUCKET_NAME: vectorBucketName,
      SEARCH_BACKEND: searchBackend,
    });

    // Lambda functions and the built-in default workflow.
    // NOTE: all handlers share this process and its one logger, so keys that one handler
    // appends can appear in another's concurrent log lines. On Lambda each function runs
    // in its own process, one event at a time.
    const functions = localFunctions();
    const workflowFunctions: CompilerFunctionArns = {
      models: {
        'visual-classifier': functions.visualClassifier.arn,
        'visual-detector': functions.visualDetector.arn,
        'visual-embedder': functions.visualEmbedder.arn,
      },
      operators: functions.operators.arn,
      writeAnnotations: functions.writeAnnotations.arn,
      recordFailure: functions.recordFailure.arn,
    };
    process.env.WORKFLOW_FUNCTION_ARNS = JSON.stringify(workflowFunctions);
    // The built-in default workflow, compiled as CDK compiles it: a STANDARD state machine
    // for ingest and an EXPRESS one of the same definition for the results route.
    const versionIds = new Map<string, string>();
    for (const modelId of defaultWorkflowModelIds()) {
      versionIds.set(modelId, await modelVersionId(modelId));
    }
    const models = resolveDefaultWorkflowModels((modelId) => versionIds.get(modelId) as string);
    const { definition } = compileWorkflow(DEFAULT_WORKFLOW, models, { functions: workflowFunctions });
    const stepFunctions = await startLocalStepFunctions(
      [
        { arn: workflowArn, definition, type: 'STANDARD' },
        { arn: resultsWorkflowArn, definition, type: 'EXPRESS' },
      ],
      Object.values(functions),
    );
    stops.push(() => stepFunctions.stop());
    process.env.AWS_ENDPOINT_URL_SFN = stepFunctions.endpoint;

    // EventBridge, with the rules that send S3 object events of other buckets to ingest, job
    // events of deep training to the job-state function, and queued clusterer versions to the
    // training function (on Percept's own bus, where the API puts them).
    const eventBridge = await startLocalEventBridge([
      {
        name: 'ingest-external-uploads',
        eventBusName: 'default',
        pattern: {
          source: ['aws.s3'],
          'detail-type': ['Object Created'],
          detail: { bucket: { name: [externalBucketName] }, object: { key: [{ prefix: 'uploads/' }] } },
        },
        target: functions.ingest,
      },
      {
        name: 'deep-training-job-state',
        eventBusName: 'default',
        pattern: trainingJobStatePattern(DEFAULT_RESOURCE_PREFIX),
        target: functions.deepTrainingJobState,
      },
      {
        name: 'cluster-training',
        eventBusName,
        pattern: clusterTrainingPattern(),
        target: functions.clusterTrainVersion,
      },
    ]);
    stops.push(() => eventBridge.stop());
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBridge.endpoint;

    // SageMaker for deep training, with what the DeepModels construct declares on AWS.
    const sageMaker = await startLocalSageMaker({ s3Endpoint, eventBridgeEndpoint: eventBridge.endpoint });
    stops.push(() => sageMaker.stop());
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SAGEMAKER: sageMaker.endpoint,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: sageMaker.endpoint,
      AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING: sageMaker.endpoint,
      ...(await provisionLocalDeepModels(sageMaker.endpoint, { bucketName, s3Endpoint })),
    });

    // S3 notifications: every object event of the Percept bucket goes to the ingest
    // function, which filters by prefix as the notification filter does on AWS. Events of
    // the external bucket go to EventBridge, as S3 sends them with EventBridge turned on.
    const pendingEvents = new Set<Promise<void>>();
    s3.on('event', (event: unknown) => {
      const record = (event as { Records?: Array<{ s3?: { bucket?: { name?: string } } }> }).Records?.[0];
      const delivery = (
        record?.s3?.bucket?.name === externalBucketName
          ? putS3EventToEventBridge(event)
          : deliverS3Event(functions.ingest, event)
      ).finally(() => pendingEvents.delete(delivery));
      pendingEvents.add(delivery);
    });

    // API keys
    const { generateApiKey, saveApiKey } = await import('#commons/storage/api-keys.ts');
    const { DEFAULT_APP_ID } = await import('#commons/storage/ids.ts');
    const apiKey = options.apiKey ?? generateApiKey();
    await saveApiKey(apiKey, DEFAULT_APP_ID);

    // HTTP API
    const api = await startLocalHttpApi(
      { port: options.port ?? 8080, host: HOST },
      { api: functions.api, authorizer: functions.authorizer },
    );
    stops.push(() => closeServer(api.server as Server));

    return {
      apiUrl: api.url,
      apiKey,
      bucketName,
      externalBucketName,
      tableName,
      s3Endpoint,
      s3VectorsEndpoint: s3Vectors.endpoint,
      vectorBucketName,
      searchBackend,
      eventBusName,
      sageMakerEndpoint: sageMaker.endpoint,
      trainingJobs: () => sageMaker.trainingJobs(),
      idle: async () => {
        while (pendingEvents.size > 0) {
          await Promise.all(pendingEvents);
        }
        await eventBridge.idle();
        await stepFunctions.idle();
      },
      executions: () => stepFunctions.executions(),
      stateMachineArns: () => stepFunctions.stateMachineArns(),
      events: () => eventBridge.events(),
      invocationCounts: localInvocationCounts,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function localFunctions() {
  const fn = (name: string, load: () => Promise<{ handler: unknown }>, timeoutSeconds = 60): LocalFunction => ({
    name,
    arn: localFunctionArn(name),
    timeoutSeconds,
    load: async () => (await load()).handler as LambdaHandler,
  });
  return {
    api: fn('percept-api', () => import('../functions/api/handler.ts'), 30),
    authorizer: fn('percept-authorizer', () => import('../functions/authorizer/handler.ts'), 10),
    ingest: fn('percept-ingest', () => import('../functions/ingest/handler.ts')),
    visualClassifier: fn('percept-visual-classifier', () => import('../functions/models/visual-classifier/handler.ts')),
    visualDetector: fn('percept-visual-detector', () => import('../functions/models/visual-detector/handler.ts')),
    visualEmbedder: fn('percept-visual-embedder', () => import('../functions/models/visual-embedder/handler.ts')),
    operators: fn('percept-operators', () => import('../functions/operators/handler.ts')),
    writeAnnotations: fn('percept-write-annotations', () => import('../functions/workflow/write-annotations/handler.ts')),
    recordFailure: fn('percept-record-failure', () => import('../functions/workflow/record-failure/handler.ts')),
    deepTrainingJobState: fn('percept-deep-training-job-state', () => import('../functions/deep-training/job-state/handler.ts'), 120),
    clusterTrainVersion: fn('percept-cluster-train-version', () => import('../functions/cluster/train-version/handler.ts'), 900),
  };
}

// S3 invokes notification targets asynchronously and retries a failed invocation twice.
const S3_EVENT_ATTEMPTS = 3;

async function deliverS3Event(ingest: LocalFunction, event: unknown): Promise<void> {
  for (let attempt = 1; attempt <= S3_EVENT_ATTEMPTS; attempt += 1) {
    try {
      await invokeLocal(ingest, event);
      return;
    } catch (error) {
      logger.error('ingest invocation failed', { attempt, maxAttempts: S3_EVENT_ATTEMPTS, error });
      if (attempt < S3_EVENT_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      }
    }
  }
  // The object stays in the bucket and its input stays pending; uploading it again retries.
  logger.error('S3 event dropped after the last attempt', { event });
}

// S3 with EventBridge notifications turned on sends each new object as an "Object Created"
// event on the default bus; this builds that event from s3rver's notification record.
async function putS3EventToEventBridge(event: unknown): Promise<void> {
  const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
  const records = (event as { Records?: Array<Record<string, any>> }).Records ?? [];
  const client = new EventBridgeClient({});
  try {
    for (const record of records) {
      if (!String(record.eventName).startsWith('ObjectCreated:')) {
        continue;
      }
      const object = record.s3.object as { key: string; size?: number; eTag?: string; sequencer?: string; versionId?: string };
      await client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: 'aws.s3',
              DetailType: 'Object Created',
              Resources: [`arn:aws:s3:::${record.s3.bucket.name}`],
              Detail: JSON.stringify({
                version: '0',
                bucket: { name: record.s3.bucket.name },
                object: {
                  key: decodeURIComponent(object.key.replace(/\+/g, ' ')),
                  size: object.size,
                  etag: object.eTag,
                  sequencer: object.sequencer,
                  ...(object.versionId === undefined ? {} : { 'version-id': object.versionId }),
                },
                reason: 'PutObject',
              }),
            },
          ],
        }),
      );
    }
  } catch (error) {
    logger.error('putting an S3 event on the local EventBridge failed', { error });
  } finally {
    client.destroy();
  }
}

/** Creates Percept's table (`pk`, `sk`, on demand) at `endpoint`; an existing table is kept. */
export async function createTable(tableName: string, endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    // A persistent data folder already contains the table from an earlier start.
    if (!(error instanceof ResourceInUseException)) {
      throw error;
    }
  } finally {
    client.destroy();
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
}
