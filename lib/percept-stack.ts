import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DefaultWorkflow } from './constructs/default-workflow.ts';
import { PerceptHttpApi } from './constructs/http-api.ts';
import { Ingest } from './constructs/ingest.ts';
import { ModelFunctions } from './constructs/model-functions.ts';
import { RuntimeLayer, type RuntimeLayerProps } from './constructs/runtime-layer.ts';
import { Storage, type StorageProps } from './constructs/storage.ts';
import { SEARCH_BACKEND_CONTEXT_KEY, VectorSearch, type VectorSearchProps } from './constructs/vector-search.ts';
import { WorkflowEngine } from './constructs/workflow-engine.ts';
import { DeepModels, type DeepModelsProps } from './constructs/deep-models.ts';
import { ClusterTraining } from './constructs/cluster-training.ts';

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

  /**
   * Search backend and, for `s3-vectors`, the vector bucket's settings.
   * @default - the backend named by the context key `percept:searchBackend`, else `ivf`
   */
  readonly vectorSearch?: VectorSearchProps;

  /**
   * Instance types and limits of deep training and serving on SageMaker.
   * @default - see `DeepModelsProps`
   */
  readonly deepModels?: Omit<DeepModelsProps, 'storage' | 'externalUploadBuckets'>;
}

/**
 * All of Percept in one stack: storage, the model functions and their layer, the workflow
 * engine, the built-in default workflow, the ingest of uploads, the HTTP API, the training of
 * clusterer versions and deep training and serving on SageMaker. The engine
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
  public readonly vectorSearch: VectorSearch;
  public readonly deepModels: DeepModels;
  public readonly clusterTraining: ClusterTraining;

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

    // The API function searches, and removes the vectors of deleted inputs; the
    // write-annotations function indexes the embeddings of each workflow run.
    this.vectorSearch = new VectorSearch(this, 'VectorSearch', {
      ...props.vectorSearch,
      backend: props.vectorSearch?.backend ?? (this.node.tryGetContext(SEARCH_BACKEND_CONTEXT_KEY) as string | undefined),
    });
    this.vectorSearch.bindSearch(this.api.apiFunction);
    this.vectorSearch.bindIndexing(this.api.apiFunction);
    this.vectorSearch.bindIndexing(this.workflowEngine.writeAnnotationsFunction);

    // Clusterer versions train in their own function, started by an event on the engine's bus.
    this.clusterTraining = new ClusterTraining(this, 'ClusterTraining', {
      storage: this.storage,
      eventBus: this.workflowEngine.eventBus,
    });
    this.clusterTraining.bindApi(this.api.apiFunction);

    // Deep-trained versions are predicted by the API and, as workflow nodes, by the model functions.
    this.deepModels = new DeepModels(this, 'DeepModels', {
      ...props.deepModels,
      storage: this.storage,
      externalUploadBuckets: props.externalUploadBuckets,
    });
    this.deepModels.bindApi(this.api.apiFunction);
    this.deepModels.bindPredict(this.modelFunctions.visualClassifier);
    this.deepModels.bindPredict(this.modelFunctions.visualDetector);

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
    if (this.vectorSearch.vectorBucketName !== undefined) {
      new CfnOutput(this, 'VectorBucketName', {
        value: this.vectorSearch.vectorBucketName,
        description: 'S3 Vectors bucket of the s3-vectors search backend, one index per app',
      });
    }
    new CfnOutput(this, 'TableName', {
      value: this.storage.table.tableName,
      description: 'Table of inputs, annotations, models and API keys',
    });
  }
}
