import { Stack } from 'aws-cdk-lib';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { compileWorkflow } from '#commons/workflows/compiler.ts';
import type { WorkflowDefinition } from '#commons/workflows/definition.ts';
import type { ResolvedModel } from '#commons/workflows/model-types.ts';
import type { WorkflowEngine } from './workflow-engine.ts';

export interface CompiledWorkflowProps {
  /** The functions, role and log group the workflow runs with. */
  readonly engine: WorkflowEngine;

  /** The workflow in Clarifai's shape. */
  readonly definition: WorkflowDefinition;

  /** The model of every node, by model id. */
  readonly models: ReadonlyMap<string, ResolvedModel>;

  /**
   * EXPRESS runs for at most 5 minutes and can be run synchronously (the results route).
   * STANDARD keeps an execution history in Step Functions, which EXPRESS does not.
   * @default StateMachineType.EXPRESS, like the workflows the API creates
   */
  readonly stateMachineType?: StateMachineType;
}

/**
 * A workflow deployed with the stack (a built-in workflow): its definition compiled at
 * synth time by the same compiler the API uses, as a state machine with the workflow role,
 * X-Ray tracing and error logging. An invalid definition fails the synth with the
 * compiler's message, which names the node.
 */
export class CompiledWorkflow extends Construct {
  public readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: CompiledWorkflowProps) {
    super(scope, id);

    const compiled = compileWorkflow(props.definition, props.models, { functions: props.engine.functionArns });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: props.stateMachineType ?? StateMachineType.EXPRESS,
      // toJsonString turns the ARN tokens into Fn::GetAtt references inside the JSON.
      definitionBody: DefinitionBody.fromString(Stack.of(this).toJsonString(compiled.definition)),
      role: props.engine.workflowRole,
      tracingEnabled: true,
      logs: { destination: props.engine.logGroup, level: LogLevel.ERROR, includeExecutionData: true },
    });
  }
}
