import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Effect, type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { MODELS_PREFIX } from '#commons/search/ivf-keys.ts';
import type { CompilerFunctionArns } from '#commons/workflows/compiler.ts';
import type { ModelFunctions } from './model-functions.ts';
import { PerceptFunction } from './percept-function.ts';
import type { RuntimeLayer } from './runtime-layer.ts';
import type { Storage } from './storage.ts';

/** Key prefix of the objects that workflow nodes derive (crops, embedding vectors). */
export const DERIVED_PREFIX = 'derived/';

/** Key prefix of the images that `POST /v2/workflows/{id}/results` runs on. */
export const WORKFLOW_RUNS_PREFIX = 'workflow-runs/';

// Step Functions needs these on `*` to set up CloudWatch Logs delivery for a state machine,
// both in the role that creates it and in the state machine's own role.
const LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

export interface WorkflowEngineProps {
  /** Bucket the nodes read images from and write derived objects to, and table of the annotations. */
  readonly storage: Storage;

  /** Layer with sharp, which the crop and tiling operators use. */
  readonly runtimeLayer: RuntimeLayer;

  /** Functions of the model nodes. */
  readonly modelFunctions: ModelFunctions;

  /**
   * Start of the name of every state machine the API creates. The API function may create,
   * run and delete only state machines whose name starts with it.
   * @default - `<stack name>-wf-`, the stack name cut to 40 characters
   */
  readonly namePrefix?: string;

  /**
   * Memory of the operators function in MB. Cropping and tiling decode the whole image.
   * @default 1024
   */
  readonly operatorsMemorySize?: number;

  /**
   * How long the workflow log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The resources that every compiled workflow runs on, the built-in default workflow
 * included. They are the operators function, the functions that store a run's annotations
 * or record its failure, the role of every workflow state machine, their log group, and
 * the event bus of their completion events (also the bus that results-push operators
 * publish to). `bindApi` and `bindIngest` give the API and ingest functions what they need
 * to create and start workflow state machines.
 */
export class WorkflowEngine extends Construct {
  /** Runs every operator type. */
  public readonly operatorsFunction: PerceptFunction;

  /** Stores the outputs of a finished `ingest` run as annotations, and puts the completion event. */
  public readonly writeAnnotationsFunction: PerceptFunction;

  /** Marks the input of a failed `ingest` run FAILED, and puts the completion event. */
  public readonly recordFailureFunction: PerceptFunction;

  /** The role of every workflow state machine: it may invoke exactly the workflow functions. */
  public readonly workflowRole: Role;

  /** Execution log of the workflow state machines (errors only). */
  public readonly logGroup: LogGroup;

  /** Completion events of workflow runs, and results-push events. */
  public readonly eventBus: EventBus;

  /** Start of every workflow state machine name. */
  public readonly namePrefix: string;

  /** The ARNs that compiled Task states call. */
  public readonly functionArns: CompilerFunctionArns;

  constructor(scope: Construct, id: string, props: WorkflowEngineProps) {
    super(scope, id);

    const stack = Stack.of(this);
    const { bucket, table, uploadsPrefix } = props.storage;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    this.namePrefix = props.namePrefix ?? `${stack.stackName.slice(0, 40)}-wf-`;

    this.eventBus = new EventBus(this, 'EventBus', { eventBusName: `${stack.stackName}-events` });

    this.operatorsFunction = new PerceptFunction(this, 'OperatorsFunction', {
      entry: 'operators/handler.ts',
      description: 'Runs the operator nodes of workflows (thresholders, croppers, samplers, ...).',
      memorySize: props.operatorsMemorySize ?? 1024,
      timeout: Duration.seconds(60),
      logRetention,
    })
      .useRuntimeLayer(props.runtimeLayer)
      .useTable(table, 'readWrite')
      .useBucket(bucket, 'read', [uploadsPrefix, WORKFLOW_RUNS_PREFIX])
      .useBucket(bucket, 'readWrite', [DERIVED_PREFIX]);
    this.useEventBus(this.operatorsFunction);

    this.writeAnnotationsFunction = new PerceptFunction(this, 'WriteAnnotations', {
      entry: 'workflow/write-annotations/handler.ts',
      description: 'Stores the node outputs of one workflow run as annotations of its input.',
      logRetention,
    }).useTable(table, 'readWrite');

    this.recordFailureFunction = new PerceptFunction(this, 'RecordFailure', {
      entry: 'workflow/record-failure/handler.ts',
      description: 'Marks an input as failed with the error of the workflow node.',
      logRetention,
    }).useTable(table, 'readWrite');

    // Model nodes read crops and the images of results runs, and store embedding vectors.
    for (const modelFunction of Object.values(props.modelFunctions.byModelType)) {
      modelFunction.useBucket(bucket, 'read', [WORKFLOW_RUNS_PREFIX]);
      modelFunction.useBucket(bucket, 'readWrite', [DERIVED_PREFIX]);
    }
    // Annotations and results inline the embedding vectors. Indexing a vector reads the app's
    // trained cluster centroids, which live with the clusterer's version under `models/`.
    this.writeAnnotationsFunction.useBucket(bucket, 'read', [DERIVED_PREFIX, MODELS_PREFIX]);
    this.useEventBus(this.writeAnnotationsFunction);
    this.useEventBus(this.recordFailureFunction);

    this.functionArns = {
      models: {
        'visual-classifier': props.modelFunctions.visualClassifier.functionArn,
        'visual-detector': props.modelFunctions.visualDetector.functionArn,
        'visual-embedder': props.modelFunctions.visualEmbedder.functionArn,
      },
      operators: this.operatorsFunction.functionArn,
      writeAnnotations: this.writeAnnotationsFunction.functionArn,
      recordFailure: this.recordFailureFunction.functionArn,
    };

    this.logGroup = new LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-workflows`,
      retention: logRetention,
    });

    this.workflowRole = new Role(this, 'WorkflowRole', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
      description: 'Runs the workflow state machines: the built-in default workflow and those the Percept API creates.',
    });
    const taskFunctions = [
      ...Object.values(props.modelFunctions.byModelType),
      this.operatorsFunction,
      this.writeAnnotationsFunction,
      this.recordFailureFunction,
    ];
    for (const taskFunction of taskFunctions) {
      taskFunction.grantInvoke(this.workflowRole);
    }
    this.workflowRole.addToPolicy(new PolicyStatement({ actions: LOG_DELIVERY_ACTIONS, resources: ['*'] }));
    this.workflowRole.addToPolicy(
      new PolicyStatement({
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
        resources: ['*'],
      }),
    );
  }

  /** Returns the ARN pattern of every workflow state machine the API creates. */
  public stateMachineArnPattern(): string {
    return Stack.of(this).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: `${this.namePrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /**
   * Lets the API function create, describe, delete and run workflow state machines (only
   * those named with the prefix), pass them the workflow role, and read and delete the
   * objects of results runs. Sets the variables that `state-machines.ts` reads.
   */
  public bindApi(apiFunction: PerceptFunction, storage: Storage): void {
    apiFunction.addEnvironment('WORKFLOW_ROLE_ARN', this.workflowRole.roleArn);
    apiFunction.addEnvironment('WORKFLOW_NAME_PREFIX', this.namePrefix);
    apiFunction.addEnvironment('WORKFLOW_FUNCTION_ARNS', Stack.of(this).toJsonString(this.functionArns));
    apiFunction.addEnvironment('WORKFLOW_LOG_GROUP_ARN', this.logGroup.logGroupArn);

    apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'states:CreateStateMachine',
          'states:DescribeStateMachine',
          'states:DeleteStateMachine',
          'states:TagResource',
          'states:StartExecution',
          'states:StartSyncExecution',
        ],
        resources: [this.stateMachineArnPattern()],
      }),
    );
    apiFunction.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['iam:PassRole'],
        resources: [this.workflowRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' } },
      }),
    );
    apiFunction.addToRolePolicy(new PolicyStatement({ actions: LOG_DELIVERY_ACTIONS, resources: ['*'] }));

    apiFunction.useBucket(storage.bucket, 'readWrite', [WORKFLOW_RUNS_PREFIX, `${DERIVED_PREFIX}${WORKFLOW_RUNS_PREFIX}`]);
    apiFunction.useBucket(storage.bucket, 'read', [DERIVED_PREFIX]);
  }

  /** Lets the ingest function start workflow state machines (an app's default workflow). */
  public bindIngest(ingestFunction: IGrantable): void {
    ingestFunction.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArnPattern()] }),
    );
  }

  /** Sets `EVENT_BUS_NAME` and allows putting events on the bus. */
  public useEventBus(fn: PerceptFunction): void {
    fn.addEnvironment('EVENT_BUS_NAME', this.eventBus.eventBusName);
    this.eventBus.grantPutEventsTo(fn);
  }
}
