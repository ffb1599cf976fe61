import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DefaultWorkflow } from './constructs/default-workflow.ts';
import { PerceptHttpApi } from './constructs/http-api.ts';
import { Ingest } from './constructs/ingest.ts';
import { ModelFunctions } from './constructs/model-functions.ts';
import { RuntimeLayer, type RuntimeLayerProps } from './constructs/runtime-layer.ts';
import { Storage, type StorageProps } from './constructs/storage.ts';
import { WorkflowEngine } from './constructs/workflow-engine.ts';

export interface PerceptStackProps extends StackProps {
  /**
   * Settings of the bucket and the table.
   * @default - see `StorageProps`
   */
  readonly storage?: StorageProps;

  /**
   * Source folders of the runtime layer's built models and native packages.
   * @default - see `RuntimeLayerProps`
   */
  readonly runtimeLayer?: RuntimeLayerProps;

  /**
   * Other buckets to ingest images from (their `uploads/` folder), through their S3 events
   * on EventBridge. The model and operator functions get read access to those folders.
   * @default - only the stack's own bucket
   */
  readonly externalUploadBuckets?: readonly string[];
}

/**
 * All of Percept in one stack: storage, the model functions and their layer, the workflow
 * engine, the built-in default workflow, the ingest of uploads and the HTTP API. The engine
 * contains the operators, the annotation and failure tasks, and the role and event bus of
 * every workflow.
 */
export class PerceptStack extends Stack {
  public readonly storage: Storage;
  public readonly runtimeLayer: RuntimeLayer;
  public readonly modelFunctions: ModelFunctions;
  public readonly defaultWorkflow: DefaultWorkflow;
  public readonly workflowEngine: WorkflowEngine;
  public readonly ingest: Ingest;
  public readonly api: PerceptHttpApi;

  constructor(scope: Construct, id: string, props: PerceptStackProps = {}) {
    super(scope, id, props);

    this.storage = new Storage(this, 'Storage', props.storage);
    this.runtimeLayer = new RuntimeLayer(this, 'RuntimeLayer', props.runtimeLayer);

    this.modelFunctions = new ModelFunctions(this, 'ModelFunctions', {
      storage: this.storage,
      runtimeLayer: this.runtimeLayer,
    });

    this.workflowEngine = new WorkflowEngine(this, 'WorkflowEngine', {
      storage: this.storage,
      runtimeLayer: this.runtimeLayer,
      modelFunctions: this.modelFunctions,
    });

    this.defaultWorkflow = new DefaultWorkflow(this, 'DefaultWorkflow', {
      engine: this.workflowEngine,
      runtimeLayer: this.runtimeLayer,
    });

    this.ingest = new Ingest(this, 'Ingest', {
      storage: this.storage,
      workflow: this.defaultWorkflow.stateMachine,
      externalUploadBuckets: props.externalUploadBuckets,
    });
    this.workflowEngine.bindIngest(this.ingest.ingestFunction);

    this.api = new PerceptHttpApi(this, 'Api', {
      storage: this.storage,
      runtimeLayer: this.runtimeLayer,
    });
    this.workflowEngine.bindApi(this.api.apiFunction, this.storage);
    this.defaultWorkflow.bindApi(this.api.apiFunction);

    for (const [index, bucketName] of (props.externalUploadBuckets ?? []).entries()) {
      const external = Bucket.fromBucketName(this, `ExternalUploadBucket${index}`, bucketName);
      for (const reader of [...Object.values(this.modelFunctions.byModelType), this.workflowEngine.operatorsFunction]) {
        external.grantRead(reader, `${this.storage.uploadsPrefix}*`);
      }
    }

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the Clarifai v2 compatible API',
    });
    new CfnOutput(this, 'BucketName', {
      value: this.storage.bucket.bucketName,
      description: 'Bucket of uploads and model artifacts',
    });
    new CfnOutput(this, 'EventBusName', {
      value: this.workflowEngine.eventBus.eventBusName,
      description: 'Event bus of workflow completion events',
    });
    new CfnOutput(this, 'TableName', {
      value: this.storage.table.tableName,
      description: 'Table of inputs, annotations, models and API keys',
    });
  }
}
