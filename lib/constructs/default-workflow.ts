import { StateMachineType, type StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEFAULT_WORKFLOW, resolveDefaultWorkflowModels } from '#commons/workflows/default-workflow.ts';
import { CompiledWorkflow } from './compiled-workflow.ts';
import type { PerceptFunction } from './percept-function.ts';
import type { RuntimeLayer } from './runtime-layer.ts';
import type { WorkflowEngine } from './workflow-engine.ts';

export interface DefaultWorkflowProps {
  /** The functions, role and log group the workflow runs with. */
  readonly engine: WorkflowEngine;

  /** The layer whose built models the model functions run; the model version ids are read from it. */
  readonly runtimeLayer: RuntimeLayer;
}

/**
 * The built-in default workflow (`DEFAULT_WORKFLOW`), compiled at synth time by the same
 * compiler as the workflows the API creates. One definition becomes two state machines.
 * Ingest starts the STANDARD one for each new input, so Step Functions keeps its execution
 * history. `POST /v2/workflows/default/results` runs the EXPRESS one with
 * StartSyncExecution, which STANDARD state machines do not support.
 */
export class DefaultWorkflow extends Construct {
  /** The STANDARD state machine that the ingest function starts for each new input. */
  public readonly stateMachine: StateMachine;

  /** The EXPRESS state machine that the results route runs. */
  public readonly resultsStateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DefaultWorkflowProps) {
    super(scope, id);

    const models = resolveDefaultWorkflowModels((modelId) => props.runtimeLayer.modelVersionId(modelId));

    this.stateMachine = new CompiledWorkflow(this, 'Ingest', {
      engine: props.engine,
      definition: DEFAULT_WORKFLOW,
      models,
      stateMachineType: StateMachineType.STANDARD,
    }).stateMachine;

    this.resultsStateMachine = new CompiledWorkflow(this, 'Results', {
      engine: props.engine,
      definition: DEFAULT_WORKFLOW,
      models,
      stateMachineType: StateMachineType.EXPRESS,
    }).stateMachine;
  }

  /**
   * Lets the API function run the EXPRESS state machine synchronously, and sets
   * `DEFAULT_WORKFLOW_RESULTS_ARN`, which the results route reads.
   */
  public bindApi(apiFunction: PerceptFunction): void {
    apiFunction.addEnvironment('DEFAULT_WORKFLOW_RESULTS_ARN', this.resultsStateMachine.stateMachineArn);
    this.resultsStateMachine.grantStartSyncExecution(apiFunction);
  }
}
