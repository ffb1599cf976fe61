/**
 * Compiles a workflow definition into Amazon States Language. The same document is what
 * CDK deploys for built-in workflows, what `POST /v2/workflows` creates as a state machine,
 * and what the local stack runs with aws-local-stepfunctions.
 *
 * Execution state, once per input: `{input, mode, outputs}`. `mode` is `ingest` (write the
 * outputs as annotations, record failures on the input) or `results` (return the outputs to
 * `POST /v2/workflows/{id}/results`). `outputs.<key>` contains the output of each node that
 * runs once per input; `outputs.<key>_crops` the per-crop outputs of the nodes that run
 * on that node's crops, as `[{crop, outputs: {<key>: NodeOutput}}]`.
 *
 * Nodes of one scope run level by level: a level holds the nodes (and Map states) whose
 * inputs are all known, and more than one runs in a Parallel state. Before a node runs, a
 * Choice state checks the gates its upstream outputs set for it, so a node whose input was
 * dropped or routed elsewhere is skipped without calling its function.
 */
import type { ModelTypeId } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { WorkflowDefinition } from '#commons/workflows/definition.ts';
import { type PlannedNode, type WorkflowPlan, nodesInScope, planWorkflow } from '#commons/workflows/graph.ts';
import type { ResolvedModel } from '#commons/workflows/model-types.ts';
import type { NodeModel, WorkflowInput } from '#commons/workflows/node-data.ts';
import type { NodeTaskPayload } from '#commons/workflows/task-event.ts';

/** Function ARNs (or CDK tokens) that compiled workflows call. */
export interface CompilerFunctionArns {
  /** The function of each ONNX model type. */
  models: Record<ModelTypeId, string>;
  /** Runs every operator type. */
  operators: string;
  /** Stores the outputs of an `ingest` run as annotations. */
  writeAnnotations: string;
  /** Marks the input of a failed `ingest` run FAILED. */
  recordFailure: string;
}

/** Input of an execution of a compiled workflow, as ingest and the results route start it. */
export interface WorkflowExecutionInput {
  input: WorkflowInput;
  mode: 'ingest' | 'results';
}

export interface CompileOptions {
  functions: CompilerFunctionArns;
  /**
   * Crops processed at once by each Map state.
   * @default 10
   */
  mapConcurrency?: number;
}

/** Location of each node's output in the final execution state, and how to report it. */
export interface OutputLayout {
  workflow_id: string;
  nodes: Array<{
    node_id: string;
    key: string;
    /** For a node that runs per crop: the key of its crop runs in `outputs`. */
    crops_key?: string;
    suppress_output: boolean;
    model: NodeModel;
  }>;
}

export interface CompiledWorkflow {
  definition: Record<string, unknown>;
  plan: WorkflowPlan;
  layout: OutputLayout;
}

type State = Record<string, unknown>;
type States = Record<string, State>;

// Errors of the Lambda service itself (throttling, a cold start that failed), not of our code.
const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

export const TASK_RETRY = [
  { ErrorEquals: TRANSIENT_LAMBDA_ERRORS, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' },
];

// State names of the engine contain spaces, which node ids cannot, so they never collide.
const PREPARE = 'Prepare input';
const COLLECT = 'Collect outputs';
const STORE_CHOICE = 'Store outputs?';
const WRITE_ANNOTATIONS = 'Write annotations';
const WRITE_FAILED = 'Write annotations failed';
const HANDLE_FAILURE = 'Handle failure';
const RECORD_FAILURE = 'Record failure';
const INPUT_FAILED = 'Input failed';
const RAISE_FAILURE = 'Workflow failed';
const DONE = 'Done';

export function cropsKey(source: PlannedNode): string {
  return `${source.key}_crops`;
}

/** Checks `definition` against `models` and compiles it; throws InvalidInputError naming the node. */
export function compileWorkflow(
  definition: WorkflowDefinition,
  models: ReadonlyMap<string, ResolvedModel>,
  options: CompileOptions,
): CompiledWorkflow {
  const plan = planWorkflow(definition, models);
  for (const node of plan.nodes) {
    checkStaticValue(node.model.params.concepts, node, 'output_info.data.concepts');
    checkStaticValue(node.model.params.model_metadata, node, 'output_info.output_config.model_metadata');
  }
  const compiler = new AslCompiler(plan, options);
  return { definition: compiler.build(), plan, layout: compiler.layout() };
}

/** A scope's chain of states: the first state's name, and the states. */
interface Chain {
  startAt: string;
  states: States;
}

/**
 * The result path and the following states of a unit's chain. An undefined `resultPath`
 * makes the result replace the state, as in a Parallel branch. An undefined `next` ends the
 * chain, and a failure then ends it with a Fail state. Otherwise a failure goes to
 * `failureTarget`.
 */
interface ChainTarget {
  resultPath: string | undefined;
  next: string | undefined;
  failureTarget: string | undefined;
}

/** One thing a level runs: a node, or the Map state over a node's crops. */
type Unit = { kind: 'node'; node: PlannedNode } | { kind: 'crops'; source: PlannedNode };

class AslCompiler {
  private readonly functions: CompilerFunctionArns;
  private readonly mapConcurrency: number;

  public constructor(
    private readonly plan: WorkflowPlan,
    options: CompileOptions,
  ) {
    this.functions = options.functions;
    this.mapConcurrency = options.mapConcurrency ?? 10;
  }

  public build(): Record<string, unknown> {
    const root = this.scopeChain(undefined, COLLECT);
    const layout = this.layout();

    const states: States = {
      [PREPARE]: {
        Type: 'Pass',
        Parameters: { 'input.$': '$.input', 'mode.$': '$.mode', outputs: {} },
        Next: root.startAt,
      },
      ...root.states,
      [COLLECT]: {
        Type: 'Pass',
        Parameters: { 'input.$': '$.input', 'mode.$': '$.mode', 'outputs.$': '$.outputs', layout },
        Next: STORE_CHOICE,
      },
      [STORE_CHOICE]: {
        Type: 'Choice',
        Choices: [{ Variable: '$.mode', StringEquals: 'ingest', Next: WRITE_ANNOTATIONS }],
        Default: DONE,
      },
      [WRITE_ANNOTATIONS]: {
        Type: 'Task',
        Resource: this.functions.writeAnnotations,
        Parameters: { 'input.$': '$.input', 'outputs.$': '$.outputs', 'layout.$': '$.layout' },
        ResultPath: '$.stored',
        Retry: TASK_RETRY,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: WRITE_FAILED }],
        Next: DONE,
      },
      [WRITE_FAILED]: failurePass(undefined, HANDLE_FAILURE),
      [HANDLE_FAILURE]: {
        Type: 'Choice',
        Choices: [{ Variable: '$.mode', StringEquals: 'ingest', Next: RECORD_FAILURE }],
        Default: RAISE_FAILURE,
      },
      [RECORD_FAILURE]: {
        Type: 'Task',
        Resource: this.functions.recordFailure,
        Parameters: { 'input.$': '$.input', 'failure.$': '$.failure', workflow_id: this.plan.id },
        ResultPath: '$.recorded',
        Retry: [...TASK_RETRY, { ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 2, BackoffRate: 2 }],
        Next: INPUT_FAILED,
      },
      [INPUT_FAILED]: {
        Type: 'Fail',
        Error: 'InputFailed',
        Cause: 'A workflow node failed; the input status names the node and the reason.',
      },
      [RAISE_FAILURE]: raiseState(),
      [DONE]: { Type: 'Succeed' },
    };

    return {
      Comment: `Percept workflow ${this.plan.id}: runs its nodes on one input, then returns or stores their outputs.`,
      StartAt: PREPARE,
      States: states,
    };
  }

  public layout(): OutputLayout {
    return {
      workflow_id: this.plan.id,
      nodes: this.plan.nodes.map((node) => ({
        node_id: node.id,
        key: node.key,
        ...(node.scope === undefined ? {} : { crops_key: cropsKey(node.scope) }),
        suppress_output: node.definition.suppress_output,
        model: nodeModel(node),
      })),
    };
  }

  /**
   * Chains the levels of one scope (undefined: the root), ending at `next`. Inside a crop
   * scope, `next` is the state that returns the iteration's outputs.
   */
  private scopeChain(scope: PlannedNode | undefined, next: string): Chain {
    const levels = this.levelsOf(scope);
    const states: States = {};
    const failureTarget = scope === undefined ? HANDLE_FAILURE : `${scope.id} crop raise`;

    let following = next;
    for (let index = levels.length - 1; index >= 0; index -= 1) {
      const units = levels[index] as Unit[];
      const level = units.length === 1 ? this.inlineUnit(units[0] as Unit, scope, following, failureTarget) : this.parallelLevel(units, scope, index, following, failureTarget);
      Object.assign(states, level.states);
      following = level.startAt;
    }
    return { startAt: following, states };
  }

  /** Groups the units of a scope into levels: each unit comes one level after its last dependency. */
  private levelsOf(scope: PlannedNode | undefined): Unit[][] {
    const units: Unit[] = nodesInScope(this.plan, scope).map((node) => ({ kind: 'node', node }));
    if (scope === undefined) {
      for (const source of this.plan.nodes.filter((node) => this.plan.nodes.some((other) => other.scope === node))) {
        units.push({ kind: 'crops', source });
      }
    }

    const unitOf = (node: PlannedNode): Unit | undefined =>
      units.find((unit) => (unit.kind === 'node' ? unit.node === node : node.scope === unit.source));
    const dependencies = (unit: Unit): Unit[] => {
      const members = unit.kind === 'node' ? [unit.node] : this.plan.nodes.filter((node) => node.scope === unit.source);
      const found = new Set<Unit>(unit.kind === 'crops' ? [unitOf(unit.source) as Unit] : []);
      for (const member of members) {
        for (const edge of member.upstream) {
          const dependency = unitOf(edge.from);
          if (dependency !== undefined && dependency !== unit) {
            found.add(dependency);
          }
        }
      }
      return [...found];
    };

    const depth = new Map<Unit, number>();
    const depthOf = (unit: Unit): number => {
      const known = depth.get(unit);
      if (known !== undefined) {
        return known;
      }
      const value = Math.max(-1, ...dependencies(unit).map(depthOf)) + 1;
      depth.set(unit, value);
      return value;
    };
    const levels: Unit[][] = [];
    for (const unit of units) {
      const value = depthOf(unit);
      (levels[value] ??= []).push(unit);
    }
    return levels;
  }

  /** Chains a unit that runs on its own, writing its result into `$.outputs`. */
  private inlineUnit(unit: Unit, scope: PlannedNode | undefined, next: string, failureTarget: string): Chain {
    if (unit.kind === 'node') {
      return this.nodeChain(unit.node, { resultPath: `$.outputs.${unit.node.key}`, next, failureTarget });
    }
    return this.cropsMap(unit.source, { resultPath: `$.outputs.${cropsKey(unit.source)}`, next, failureTarget });
  }

  /**
   * Several units of one level in a Parallel state. Each branch returns its unit's result;
   * a Pass state then merges them into `$.outputs`.
   */
  private parallelLevel(
    units: readonly Unit[],
    scope: PlannedNode | undefined,
    levelIndex: number,
    next: string,
    failureTarget: string,
  ): Chain {
    const prefix = scope === undefined ? '' : `${scope.id} crop `;
    const name = `${prefix}level ${levelIndex + 1}`;
    const mergeName = `${name} merge`;
    const failedName = `${name} failed`;

    const branches = units.map((unit) => {
      const branch =
        unit.kind === 'node'
          ? this.nodeChain(unit.node, { resultPath: undefined, next: undefined, failureTarget: undefined })
          : this.cropsMap(unit.source, { resultPath: undefined, next: undefined, failureTarget: undefined });
      return { StartAt: branch.startAt, States: branch.states };
    });
    const selector = Object.fromEntries(
      units.map((unit, index) => [`${unit.kind === 'node' ? unit.node.key : cropsKey(unit.source)}.$`, `$[${index}]`]),
    );
    const carried = scope === undefined ? { 'input.$': '$.input', 'mode.$': '$.mode' } : { 'input.$': '$.input', 'crop.$': '$.crop' };

    return {
      startAt: name,
      states: {
        [name]: {
          Type: 'Parallel',
          Branches: branches,
          ResultSelector: selector,
          ResultPath: '$.level',
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: failedName }],
          Next: mergeName,
        },
        [mergeName]: {
          Type: 'Pass',
          Parameters: { ...carried, 'outputs.$': 'States.JsonMerge($.outputs, $.level, false)' },
          Next: next,
        },
        [failedName]: failurePass(undefined, failureTarget),
      },
    };
  }

  /**
   * The states of one node: a gate (when an upstream output can stop it), the Task, the
   * Pass that stands for it when skipped, and its failure handling. With `next` undefined
   * the chain ends (a Parallel branch), and a failure ends it with a Fail state.
   */
  private nodeChain(node: PlannedNode, target: ChainTarget): Chain {
    const taskName = node.id;
    const gateName = `${node.id} gate`;
    const skippedName = `${node.id} skipped`;
    const failedName = `${node.id} failed`;
    const ending = (next: string | undefined): State => (next === undefined ? { End: true } : { Next: next });

    const states: States = {};
    const gated = node.upstream.filter((edge) => edge.mode !== 'merged');
    if (gated.length > 0) {
      const conditions = gated.map((edge) => ({
        Variable: `$.outputs.${edge.from.key}.gates.${node.key}`,
        BooleanEquals: false,
      }));
      states[gateName] = {
        Type: 'Choice',
        Choices: [conditions.length === 1 ? { ...conditions[0], Next: skippedName } : { Or: conditions, Next: skippedName }],
        Default: taskName,
      };
      states[skippedName] = {
        Type: 'Pass',
        Result: skippedOutput(node),
        ...resultPathField(target.resultPath),
        ...ending(target.next),
      };
    }

    states[taskName] = {
      Type: 'Task',
      Resource: this.resourceOf(node),
      Parameters: this.taskParameters(node),
      ...resultPathField(target.resultPath),
      Retry: TASK_RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: failedName }],
      ...ending(target.next),
    };

    if (target.failureTarget === undefined) {
      states[failedName] = failurePass(node, `${node.id} raise`);
      states[`${node.id} raise`] = raiseState();
    } else {
      states[failedName] = failurePass(node, target.failureTarget);
    }

    return { startAt: gated.length > 0 ? gateName : taskName, states };
  }

  /** The Map state that runs the nodes of `source`'s crop scope once per crop. */
  private cropsMap(source: PlannedNode, target: ChainTarget): Chain {
    const mapName = `${source.id} crops`;
    const returnName = `${source.id} crop done`;
    const cropRaiseName = `${source.id} crop raise`;
    const mapFailedName = `${source.id} crops failed`;
    const members = nodesInScope(this.plan, source);

    const inner = this.scopeChain(source, returnName);
    const iteration: States = {
      ...inner.states,
      [returnName]: {
        Type: 'Pass',
        Parameters: {
          'crop.$': '$.crop',
          outputs: Object.fromEntries(members.map((node) => [`${node.key}.$`, `$.outputs.${node.key}`])),
        },
        End: true,
      },
      [cropRaiseName]: raiseState(),
    };

    const states: States = {
      [mapName]: {
        Type: 'Map',
        ItemsPath: `$.outputs.${source.key}.crops`,
        ItemSelector: { 'input.$': '$.input', 'outputs.$': '$.outputs', 'crop.$': '$$.Map.Item.Value' },
        MaxConcurrency: this.mapConcurrency,
        ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: inner.startAt, States: iteration },
        ...resultPathField(target.resultPath),
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: mapFailedName }],
        ...(target.next === undefined ? { End: true } : { Next: target.next }),
      },
    };
    if (target.failureTarget === undefined) {
      states[mapFailedName] = failurePass(undefined, `${source.id} crops raise`);
      states[`${source.id} crops raise`] = raiseState();
    } else {
      states[mapFailedName] = failurePass(undefined, target.failureTarget);
    }
    return { startAt: mapName, states };
  }

  private resourceOf(node: PlannedNode): string {
    const runner = node.model.runner;
    return runner.kind === 'model' ? this.functions.models[runner.modelTypeId] : this.functions.operators;
  }

  private taskParameters(node: PlannedNode): Record<string, unknown> {
    const payloadNode: NodeTaskPayload['node'] = {
      id: node.id,
      model: nodeModel(node),
      params: node.model.params,
      downstream: node.downstream.map((next) => ({ node_id: next.id, key: next.key })),
      output_kind: node.kind,
    };
    const upstream = Object.fromEntries(
      node.upstream.map((edge, index) => [
        `u${index}.$`,
        edge.mode === 'merged' ? `$.outputs.${cropsKey(edge.from.scope as PlannedNode)}` : `$.outputs.${edge.from.key}`,
      ]),
    );
    const upstreamRefs: NodeTaskPayload['upstream_refs'] = node.upstream.map((edge) =>
      edge.mode === 'merged'
        ? { node_id: edge.from.id, key: edge.from.key, merged: true, model: nodeModel(edge.from) }
        : { node_id: edge.from.id, key: edge.from.key, merged: false },
    );

    return {
      'input.$': '$.input',
      node: payloadNode,
      upstream,
      upstream_refs: upstreamRefs,
      ...(node.scope === undefined ? {} : { 'crop.$': '$.crop' }),
    };
  }
}

/**
 * Rejects parameter keys ending in `.$`: inside a Task state's Parameters, Step Functions
 * would read such a key's value as a path into the execution state.
 */
function checkStaticValue(value: unknown, node: PlannedNode, field: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkStaticValue(item, node, `${field}[${index}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (key.endsWith('.$')) {
        throw new InvalidInputError(
          'INVALID_MODEL_PARAMS',
          `Node "${node.id}": model ${node.model.id} has the parameter key "${field}.${key}"; keys ending in ".$" are not allowed. Rename the key.`,
          StatusCode.MODEL_INVALID_ARGUMENT,
        );
      }
      checkStaticValue(item, node, `${field}.${key}`);
    }
  }
}

/**
 * Returns the `ResultPath` field of a state. A result that replaces the state gets no field,
 * which Step Functions reads as `$`.
 *
 * NOTE: aws-local-stepfunctions 3.0.0 stores a result under a key named "$" for an explicit
 * `"ResultPath": "$"` instead of replacing the state, so the field is left out.
 */
function resultPathField(resultPath: string | undefined): State {
  return resultPath === undefined ? {} : { ResultPath: resultPath };
}

function nodeModel(node: PlannedNode): NodeModel {
  return { id: node.model.id, model_type_id: node.model.model_type_id, model_version: { id: node.model.version_id } };
}

/** Returns the output of a node that did not run: no data, and every gate closed. */
function skippedOutput(node: PlannedNode): Record<string, unknown> {
  return {
    node_id: node.id,
    model: nodeModel(node),
    data: {},
    ...(node.kind === 'crops' ? { crops: [] } : {}),
    skipped: true,
    gates: Object.fromEntries(node.downstream.map((next) => [next.key, false])),
  };
}

/**
 * A Pass that stores the caught error (`{Error, Cause}` at `$.caught`) in `$.failure`. For a
 * node's failure the error becomes `<error>@<node id>@<model id>`, which survives the Fail
 * states of enclosing branches and Map iterations unchanged; `describeWorkflowFailure`
 * splits it again. Neither id can contain `@`, quotes or commas.
 *
 * NOTE: The failing node travels in the error name, not as JSON in the cause, because
 * aws-local-stepfunctions 3.0.0 removes every backslash from the string that an intrinsic
 * function returns, which breaks `States.JsonToString` of a cause that contains JSON.
 */
function failurePass(node: PlannedNode | undefined, next: string): State {
  const error =
    node === undefined ? '$.caught.Error' : `States.Format('{}@{}@{}', $.caught.Error, '${node.id}', '${node.model.id}')`;
  return {
    Type: 'Pass',
    Parameters: { 'error.$': error, 'cause.$': '$.caught.Cause' },
    ResultPath: '$.failure',
    Next: next,
  };
}

/** Returns a Fail state that ends the branch (or execution) with the error and cause of `$.failure`. */
function raiseState(): State {
  return { Type: 'Fail', ErrorPath: '$.failure.error', CausePath: '$.failure.cause' };
}
