/**
 * The interface every workflow operator implements. An operator is a model type without
 * weights (a thresholder, a cropper, a sampler ...): `POST /v2/models` creates a model of
 * that type with its parameters, and a workflow node that names the model runs
 * `Operator.run` in the operators Lambda function.
 *
 * The engine, not the operator, is responsible for:
 * - checking the graph with `inputKinds` and `outputKind` before anything runs;
 * - validating the stored parameters with `validateParams` when the model is created,
 *   and again before every run (the value passed to `run` is what it returned);
 * - skipping the node when an upstream node dropped or routed away the input;
 * - setting `node_id` and `model` of the returned NodeOutput;
 * - retrying transient Lambda errors and recording any other thrown error on the input.
 *
 * An operator throws a PerceptError subclass (InvalidInputError for bad data) so that its
 * stable code reaches the input status; anything else is reported as INTERNAL_ERROR.
 */
import type { DataKind, NodeOutput, NodeTaskEvent, OutputKind, RawModelParams } from '#commons/workflows/node-data.ts';

/** The operator model types that Percept runs, as Clarifai names them in `model_type_id`. */
export const OPERATOR_TYPE_IDS = [
  'concept-thresholder',
  'region-thresholder',
  'random-sample',
  'router',
  'image-crop',
  'concept-synonym-mapper',
  'annotation-writer',
  'object-counter',
  'input-filter',
  'image-tiling',
  'tiling-region-aggregator',
  'results-push',
] as const;

export type OperatorTypeId = (typeof OPERATOR_TYPE_IDS)[number];

export function isOperatorTypeId(value: string): value is OperatorTypeId {
  return (OPERATOR_TYPE_IDS as readonly string[]).includes(value);
}

export interface Operator<Params = unknown> {
  readonly typeId: OperatorTypeId;
  /** One sentence for `GET /v2/models`: what the operator does with its input. */
  readonly description: string;
  /**
   * The kinds of upstream output the operator accepts; every node in its `node_inputs`
   * must produce one of them. An operator that accepts `crops` receives the whole list
   * of crops in one call. An operator that accepts `image` but not `crops` and is fed
   * by crops runs once per crop, like a model.
   */
  readonly inputKinds: readonly DataKind[];
  /** The kind the operator produces, which the compiler checks against downstream nodes. */
  readonly outputKind: OutputKind;
  /**
   * True for an operator that combines per-crop outputs (tiling-region-aggregator): fed by
   * nodes that run once per crop, it still runs once per input, after every crop, and
   * receives their outputs merged (see `NodeTaskEvent.upstream`). Default false: an
   * operator fed by per-crop nodes runs once per crop too.
   */
  readonly aggregatesCrops?: boolean;
  /**
   * Reads and checks the parameters stored with the model. Throws InvalidInputError whose
   * message names the field (`output_info.output_config.model_metadata.keep_fraction`,
   * `output_info.data.concepts[2].value`), the value received and the accepted range.
   * Fills in defaults, so the result is complete.
   */
  validateParams(raw: RawModelParams): Params;
  /** Runs the operator on one input (or one crop). Returns its output; see `outputOf`. */
  run(event: NodeTaskEvent, params: Params): Promise<NodeOutput>;
}

/** The registry that `functions/operators/index.ts` exports as `OPERATORS`: one operator per type id. */
export type OperatorRegistry = Readonly<Record<OperatorTypeId, Operator>>;
