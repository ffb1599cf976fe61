import { Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { buildDefaultWorkflowDefinition } from '#commons/workflows/default-workflow.ts';
import type { ModelFunctions } from './model-functions.ts';
import { PerceptFunction } from './percept-function.ts';

export interface DefaultWorkflowProps {
  /** Functions that the workflow's Task states run, one per model type. */
  readonly modelFunctions: ModelFunctions;

  /** Table that the annotations and the failure status are written to. */
  readonly table: ITable;

  /**
   * Log level of the state machine's execution events. `ERROR` logs failed executions only.
   * @default LogLevel.ERROR
   */
  readonly logLevel?: LogLevel;

  /**
   * How long the state machine's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The default workflow as a standard Step Functions state machine with X-Ray tracing.
 * Its definition is the ASL of `buildDefaultWorkflowDefinition`, the same document the
 * local stack runs, with the ARNs of the functions created here and of the model functions.
 * The state machine's role may invoke exactly the functions that its Task states name.
 */
export class DefaultWorkflow extends Construct {
  /** Stores the model outputs of one input as annotations. */
  public readonly writeAnnotationsFunction: PerceptFunction;

  /** Records on the input that a workflow step failed, with the error code. */
  public readonly recordFailureFunction: PerceptFunction;

  /** The state machine that the ingest function starts for each new image. */
  public readonly stateMachine: StateMachine;

  /** Log group of the state machine's execution events. */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: DefaultWorkflowProps) {
    super(scope, id);

    this.writeAnnotationsFunction = new PerceptFunction(this, 'WriteAnnotations', {
      entry: 'workflow/write-annotations/handler.ts',
      description: 'Stores the model outputs of one input as annotations.',
    }).useTable(props.table, 'readWrite');

    this.recordFailureFunction = new PerceptFunction(this, 'RecordFailure', {
      entry: 'workflow/record-failure/handler.ts',
      description: 'Marks an input as failed with the error of the workflow step.',
    }).useTable(props.table, 'readWrite');

    const models = props.modelFunctions.byModelType;
    const definition = buildDefaultWorkflowDefinition({
      models: {
        'visual-classifier': models['visual-classifier'].functionArn,
        'visual-detector': models['visual-detector'].functionArn,
        'visual-embedder': models['visual-embedder'].functionArn,
      },
      writeAnnotations: this.writeAnnotationsFunction.functionArn,
      recordFailure: this.recordFailureFunction.functionArn,
    });

    // CloudWatch Logs names under /aws/vendedlogs/ need no entry in the account's
    // size-limited log resource policy.
    this.logGroup = new LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-default-workflow`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      // toJsonString turns the ARN tokens into Fn::GetAtt references inside the JSON.
      definitionBody: DefinitionBody.fromString(Stack.of(this).toJsonString(definition)),
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: props.logLevel ?? LogLevel.ERROR,
        includeExecutionData: true,
      },
    });

    // Only the functions that a Task state names: the default workflow may leave a model type unused.
    const definitionText = JSON.stringify(definition);
    const candidates = [...Object.values(models), this.writeAnnotationsFunction, this.recordFailureFunction];
    for (const candidate of candidates) {
      if (definitionText.includes(candidate.functionArn)) {
        candidate.grantInvoke(this.stateMachine);
      }
    }
  }
}
