/**
 * The built-in default workflow: its definition, the models it resolves to, and the ASL
 * that the compiler makes of it (the same document CDK deploys and the local stack runs).
 */
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '#commons/workflows/compiler.ts';
import { parseWorkflowDefinition } from '#commons/workflows/definition.ts';
import {
  DEFAULT_WORKFLOW,
  DEFAULT_WORKFLOW_ID,
  defaultWorkflowModelIds,
  resolveDefaultWorkflowModels,
} from '#commons/workflows/default-workflow.ts';

const arn = (name: string): string => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const FUNCTIONS = {
  models: {
    'visual-classifier': arn('classifier'),
    'visual-detector': arn('detector'),
    'visual-embedder': arn('embedder'),
  },
  operators: arn('operators'),
  writeAnnotations: arn('write-annotations'),
  recordFailure: arn('record-failure'),
};

// A fake version id per model, 32 hex digits like the real ones.
const versionOf = (modelId: string): string => modelId.replace(/[^a-f0-9]/g, '0').padEnd(32, '0').slice(0, 32);

type State = Record<string, any>;

function compileDefault(): { States: Record<string, State> } {
  const models = resolveDefaultWorkflowModels(versionOf);
  return compileWorkflow(DEFAULT_WORKFLOW, models, { functions: FUNCTIONS }).definition as { States: Record<string, State> };
}

describe('default workflow definition', () => {
  it('has the four built-in nodes', () => {
    expect(DEFAULT_WORKFLOW.id).toBe(DEFAULT_WORKFLOW_ID);
    expect(DEFAULT_WORKFLOW.nodes.map((node) => [node.id, node.model.id])).toEqual([
      ['object-detection', 'general-object-detection'],
      ['image-embedding', 'general-image-embedding'],
      ['text-detection', 'ocr-text-detector'],
      ['text-orientation', 'ocr-text-orientation'],
    ]);
    for (const node of DEFAULT_WORKFLOW.nodes) {
      expect(node.node_inputs).toEqual([]);
      expect(node.suppress_output).toBe(false);
    }
  });

  it('passes the API definition check', () => {
    expect(parseWorkflowDefinition(structuredClone(DEFAULT_WORKFLOW), 'workflow')).toEqual(DEFAULT_WORKFLOW);
  });

  it('resolves models from the manifests', () => {
    const models = resolveDefaultWorkflowModels(versionOf);

    expect([...models.keys()]).toEqual(defaultWorkflowModelIds());
    expect(models.get('general-object-detection')).toMatchObject({
      model_type_id: 'visual-detector',
      version_id: versionOf('general-object-detection'),
      runner: { kind: 'model', modelTypeId: 'visual-detector' },
    });
    expect(models.get('general-image-embedding')?.outputKind).toBe('embeddings');
    expect(models.get('ocr-text-detector')?.outputKind).toBe('regions');
    expect(models.get('ocr-text-orientation')?.outputKind).toBe('concepts');
  });
});

describe('default workflow ASL', () => {
  it('passes asl-validator', () => {
    const result = aslValidator(compileDefault(), { checkArn: true, checkPaths: true });

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('runs all nodes in one Parallel state', () => {
    const states = compileDefault().States;
    const level = states['level 1'] as State;
    const tasks = (level.Branches as Array<{ StartAt: string; States: Record<string, State> }>).map(
      (branch) => branch.States[branch.StartAt] as State,
    );

    expect(level.Type).toBe('Parallel');
    expect(tasks.map((task) => [task.Parameters.node.id, task.Resource])).toEqual([
      ['object-detection', FUNCTIONS.models['visual-detector']],
      ['image-embedding', FUNCTIONS.models['visual-embedder']],
      ['text-detection', FUNCTIONS.models['visual-detector']],
      ['text-orientation', FUNCTIONS.models['visual-classifier']],
    ]);
    for (const task of tasks) {
      expect(task.Parameters.node.model.model_version.id).toBe(versionOf(task.Parameters.node.model.id));
    }
  });

  it('stores outputs and records failures as default', () => {
    const states = compileDefault().States;

    expect(states['Write annotations']?.Resource).toBe(FUNCTIONS.writeAnnotations);
    expect(states['Collect outputs']?.Parameters.layout.workflow_id).toBe('default');
    expect(states['level 1']?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: 'level 1 failed' }]);
    expect(states['Record failure']?.Resource).toBe(FUNCTIONS.recordFailure);
    expect(states['Record failure']?.Parameters.workflow_id).toBe('default');
  });
});
