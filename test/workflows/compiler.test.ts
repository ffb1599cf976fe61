/**
 * The workflow compiler on definitions in Clarifai's shape: the ASL it emits for chains,
 * branches, joins, crop scopes and gates, and the graphs it rejects. Operators come from
 * the real registry and models from the built-in catalog.
 */
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '#commons/errors.ts';
import { getModel, modelVersionId } from '#commons/models/index.ts';
import { type CompilerFunctionArns, compileWorkflow } from '#commons/workflows/compiler.ts';
import { type WorkflowDefinition, parseWorkflowDefinition } from '#commons/workflows/definition.ts';
import {
  type ResolvedModel,
  operatorVersionId,
  resolveOnnxModel,
  resolveOperatorModel,
} from '#commons/workflows/model-types.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';
import type { OperatorTypeId } from '#commons/workflows/operator.ts';
import { OPERATORS } from '../../functions/operators/index.ts';

const arn = (name: string): string => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const FUNCTIONS: CompilerFunctionArns = {
  models: {
    'visual-classifier': arn('classifier'),
    'visual-detector': arn('detector'),
    'visual-embedder': arn('embedder'),
  },
  operators: arn('operators'),
  writeAnnotations: arn('write-annotations'),
  recordFailure: arn('record-failure'),
};

type State = Record<string, any>;

async function builtin(id: string): Promise<ResolvedModel> {
  const manifest = getModel(id);
  return resolveOnnxModel(manifest.id, manifest.model_type_id, await modelVersionId(id));
}

function operator(id: string, typeId: OperatorTypeId, params: Partial<RawModelParams> = {}): ResolvedModel {
  const raw: RawModelParams = { concepts: params.concepts ?? [], model_metadata: params.model_metadata ?? {} };
  OPERATORS[typeId].validateParams(raw);
  return resolveOperatorModel(id, OPERATORS[typeId], raw, operatorVersionId(typeId, raw));
}

const MODELS = new Map<string, ResolvedModel>(
  await Promise.all(
    [
      builtin('ocr-text-detector'),
      builtin('ocr-text-orientation'),
      operator('crop', 'image-crop'),
      operator('upright', 'concept-thresholder', { concepts: [{ id: 'rotation-0', name: 'upright', value: 0.5 }] }),
      operator('sample', 'random-sample', { model_metadata: { keep_fraction: 0.5 } }),
      operator('aggregate', 'tiling-region-aggregator'),
      operator('tiles', 'image-tiling'),
    ].map(async (model) => {
      const resolved = await model;
      return [resolved.id, resolved] as const;
    }),
  ),
);

function workflow(id: string, nodes: Array<[string, string, string[]?]>): WorkflowDefinition {
  return parseWorkflowDefinition(
    {
      id,
      nodes: nodes.map(([nodeId, modelId, inputs]) => ({
        id: nodeId,
        model: { id: modelId },
        node_inputs: (inputs ?? []).map((input) => ({ node_id: input })),
      })),
    },
    'workflow',
  );
}

const OCR_LINES = workflow('ocr-lines', [
  ['detect', 'ocr-text-detector'],
  ['crop', 'crop', ['detect']],
  ['orient', 'ocr-text-orientation', ['crop']],
  ['upright', 'upright', ['orient']],
]);

/** Collects every state of a definition, branches and Map iterations included, by name. */
function allStates(definition: Record<string, unknown>): Record<string, State> {
  const found: Record<string, State> = {};
  const visit = (states: Record<string, State>): void => {
    for (const [name, state] of Object.entries(states)) {
      found[name] = state;
      for (const branch of state.Branches ?? []) {
        visit(branch.States);
      }
      if (state.ItemProcessor !== undefined) {
        visit(state.ItemProcessor.States);
      }
    }
  };
  visit(definition.States as Record<string, State>);
  return found;
}

function compile(definition: WorkflowDefinition) {
  return compileWorkflow(definition, MODELS, { functions: FUNCTIONS });
}

function rejection(definition: WorkflowDefinition): InvalidInputError {
  try {
    compile(definition);
  } catch (error) {
    if (error instanceof InvalidInputError) {
      return error;
    }
    throw error;
  }
  throw new Error(`workflow ${definition.id} compiled, but a rejection was expected`);
}

describe('compiled ASL', () => {
  it.each([
    ['chain with crops', OCR_LINES],
    ['single node', workflow('single', [['detect', 'ocr-text-detector']])],
    [
      'branch and join',
      workflow('join', [
        ['detect', 'ocr-text-detector'],
        ['whole', 'ocr-text-orientation'],
        ['crop', 'crop', ['detect']],
        ['orient', 'ocr-text-orientation', ['crop']],
        ['upright', 'upright', ['orient']],
        ['aggregate', 'aggregate', ['orient', 'detect']],
      ]),
    ],
    [
      'sampler gate',
      workflow('gated', [
        ['sample', 'sample'],
        ['orient', 'ocr-text-orientation', ['sample']],
        ['upright', 'upright', ['orient']],
      ]),
    ],
    [
      'tiles and aggregator',
      workflow('tiles', [
        ['tiles', 'tiles'],
        ['detect', 'ocr-text-detector', ['tiles']],
        ['aggregate', 'aggregate', ['detect']],
      ]),
    ],
  ])('%s passes asl-validator', (_name, definition) => {
    const result = aslValidator(compile(definition).definition);

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('runs the tile aggregator once, after the Map', () => {
    const definition = compile(
      workflow('tiles', [
        ['tiles', 'tiles'],
        ['detect', 'ocr-text-detector', ['tiles']],
        ['aggregate', 'aggregate', ['detect']],
      ]),
    ).definition;
    const states = allStates(definition);
    const map = Object.values(states).find((state) => state.Type === 'Map');

    expect(map).toBeDefined();
    expect(Object.keys(map?.ItemProcessor.States)).toContain('detect');
    expect(Object.keys(map?.ItemProcessor.States)).not.toContain('aggregate');
    expect(states.aggregate?.Resource).toBe(FUNCTIONS.operators);
  });

  it('runs per-crop nodes in a Map', () => {
    const states = allStates(compile(OCR_LINES).definition);

    const map = states['crop crops'];
    expect(map?.Type).toBe('Map');
    expect(map?.ItemsPath).toBe('$.outputs.n1.crops');
    expect(Object.keys(map?.ItemProcessor.States)).toEqual(expect.arrayContaining(['orient', 'upright']));
    expect(states.orient?.Parameters['crop.$']).toBe('$.crop');
    expect(states.detect?.Parameters['crop.$']).toBeUndefined();
  });

  it('calls the function of each node type', () => {
    const states = allStates(compile(OCR_LINES).definition);

    expect(states.detect?.Resource).toBe(FUNCTIONS.models['visual-detector']);
    expect(states.orient?.Resource).toBe(FUNCTIONS.models['visual-classifier']);
    expect(states.crop?.Resource).toBe(FUNCTIONS.operators);
    expect(states.upright?.Resource).toBe(FUNCTIONS.operators);
    expect(states.upright?.Parameters.node.params).toEqual({
      concepts: [{ id: 'rotation-0', name: 'upright', value: 0.5 }],
      model_metadata: {},
    });
  });

  it('runs independent nodes in a Parallel', () => {
    const definition = workflow('parallel', [
      ['detect', 'ocr-text-detector'],
      ['whole', 'ocr-text-orientation'],
    ]);
    const states = allStates(compile(definition).definition);

    const level = states['level 1'];
    expect(level?.Type).toBe('Parallel');
    expect(level?.Branches.map((branch: State) => branch.StartAt)).toEqual(['detect', 'whole']);
    expect(level?.ResultSelector).toEqual({ 'n0.$': '$[0]', 'n1.$': '$[1]' });
    expect(states['level 1 merge']?.Parameters['outputs.$']).toBe('States.JsonMerge($.outputs, $.level, false)');
    // A branch's task result becomes the branch output through the default ResultPath.
    expect(states.detect).not.toHaveProperty('ResultPath');
    expect(states.whole).not.toHaveProperty('ResultPath');
  });

  it('gates nodes behind a sampler with a Choice', () => {
    const definition = workflow('gated', [
      ['sample', 'sample'],
      ['orient', 'ocr-text-orientation', ['sample']],
    ]);
    const states = allStates(compile(definition).definition);

    expect(states['orient gate']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.outputs.n0.gates.n1', BooleanEquals: false, Next: 'orient skipped' }],
      Default: 'orient',
    });
    expect(states['orient skipped']?.Result).toMatchObject({ node_id: 'orient', skipped: true, data: {} });
  });

  it('retries transient errors and catches the rest', () => {
    const states = allStates(compile(OCR_LINES).definition);

    for (const name of ['detect', 'crop', 'orient', 'upright']) {
      expect(states[name]?.Retry[0]).toMatchObject({ ErrorEquals: expect.arrayContaining(['Lambda.TooManyRequestsException']), BackoffRate: 2 });
      expect(states[name]?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: `${name} failed` }]);
    }
    expect(states['detect failed']?.Parameters).toEqual({
      'error.$': "States.Format('{}@{}@{}', $.caught.Error, 'detect', 'ocr-text-detector')",
      'cause.$': '$.caught.Cause',
    });
    expect(states['orient failed']?.Next).toBe('crop crop raise');
    expect(states['crop crops']?.Catch[0].Next).toBe('crop crops failed');
  });

  it('lays out merged and suppressed outputs', () => {
    const definition = parseWorkflowDefinition(
      {
        id: 'layout',
        nodes: [
          { id: 'detect', model: { id: 'ocr-text-detector' } },
          { id: 'crop', model: { id: 'crop' }, node_inputs: [{ node_id: 'detect' }], suppress_output: true },
          { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'crop' }] },
        ],
      },
      'workflow',
    );
    const { layout } = compile(definition);

    expect(layout.nodes.map((node) => [node.node_id, node.key, node.crops_key, node.suppress_output])).toEqual([
      ['detect', 'n0', undefined, false],
      ['crop', 'n1', undefined, true],
      ['orient', 'n2', 'n1_crops', false],
    ]);
  });
});

describe('compiler rejections', () => {
  it('rejects a cycle', () => {
    const error = rejection(
      workflow('cycle', [
        ['detect', 'ocr-text-detector'],
        ['first', 'upright', ['second']],
        ['second', 'upright', ['first']],
      ]),
    );

    expect(error.code).toBe('WORKFLOW_CYCLE');
    expect(error.message).toMatch(/^Node "(first|second)": the workflow has a cycle \((first -> second -> first|second -> first -> second)\)/);
  });

  it('rejects an unknown model', () => {
    const error = rejection(workflow('unknown', [['detect', 'no-such-model']]));

    expect(error.code).toBe('MODEL_NOT_FOUND');
    expect(error.message).toContain('Node "detect": model "no-such-model" does not exist');
  });

  it('rejects a missing node input', () => {
    const error = rejection(workflow('missing', [['crop', 'crop', ['detect']]]));

    expect(error.code).toBe('WORKFLOW_NODE_INPUT_NOT_FOUND');
    expect(error.message).toBe('Node "crop": node_inputs names "detect", which is not a node of this workflow.');
  });

  it('rejects a cropper fed by a classifier', () => {
    const error = rejection(
      workflow('mismatch', [
        ['orient', 'ocr-text-orientation'],
        ['crop', 'crop', ['orient']],
      ]),
    );

    expect(error.code).toBe('WORKFLOW_TYPE_MISMATCH');
    expect(error.message).toBe(
      'Node "crop": a image-crop takes regions, but its input node "orient" (model ocr-text-orientation, a visual-classifier) produces concepts.',
    );
  });

  it('rejects an operator without inputs that needs them', () => {
    const error = rejection(workflow('rootless', [['upright', 'upright']]));

    expect(error.code).toBe('WORKFLOW_TYPE_MISMATCH');
    expect(error.message).toContain('Node "upright": a concept-thresholder takes concepts');
    expect(error.message).toContain('a node without node_inputs gets the input image');
  });

  it('rejects crops of crops', () => {
    const error = rejection(
      workflow('nested', [
        ['detect', 'ocr-text-detector'],
        ['crop', 'crop', ['detect']],
        ['detect-again', 'ocr-text-detector', ['crop']],
        ['crop-again', 'crop', ['detect-again']],
        ['orient', 'ocr-text-orientation', ['crop-again']],
      ]),
    );

    expect(error.code).toBe('WORKFLOW_NESTED_CROPS');
    expect(error.message).toContain('Node "orient": it would run once per crop of "crop-again"');
  });

  it('rejects a wrong model version', () => {
    const definition = parseWorkflowDefinition(
      { id: 'version', nodes: [{ id: 'detect', model: { id: 'ocr-text-detector', model_version: { id: 'v0' } } }] },
      'workflow',
    );
    const error = rejection(definition);

    expect(error.code).toBe('MODEL_VERSION_NOT_FOUND');
    expect(error.message).toContain('Node "detect": model ocr-text-detector has no version "v0"');
  });

  it('rejects parameter keys that read as paths', () => {
    const models = new Map(MODELS);
    const sample = MODELS.get('sample') as ResolvedModel;
    models.set('sample', { ...sample, params: { concepts: [], model_metadata: { 'keep_fraction.$': '$.input' } } });
    const definition = workflow('paths', [['sample', 'sample']]);

    expect(() => compileWorkflow(definition, models, { functions: FUNCTIONS })).toThrow(
      'Node "sample": model sample has the parameter key "output_info.output_config.model_metadata.keep_fraction.$"',
    );
  });
});

describe('workflow definition', () => {
  it.each([
    [{ id: 'bad id', nodes: [] }, 'workflow.id "bad id" is not a valid workflow id'],
    [{ id: 'w', nodes: [] }, 'workflow.nodes must be a non-empty list of nodes'],
    [{ id: 'w', nodes: [{ id: 'a', model: {} }] }, 'Node "a": workflow.nodes[0].model.id must name a model'],
    [{ id: 'w', nodes: [{ id: 'a', model: { id: 'm' }, node_inputs: [{}] }] }, 'Node "a": workflow.nodes[0].node_inputs[0] must be {"node_id": "<node id>"}'],
    [
      { id: 'w', nodes: [{ id: 'a', model: { id: 'm' } }, { id: 'a', model: { id: 'm' } }] },
      'workflow: node id "a" appears more than once',
    ],
  ])('rejects %j', (value, message) => {
    expect(() => parseWorkflowDefinition(value, 'workflow')).toThrow(message);
  });
});
