import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKFLOW_NODES,
  buildDefaultWorkflowDefinition,
  buildWorkflowDefinition,
} from '#commons/workflows/default-workflow.ts';

const arn = (name: string): string => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const FUNCTIONS = {
  models: {
    'visual-classifier': arn('classifier'),
    'visual-detector': arn('detector'),
    'visual-embedder': arn('embedder'),
  },
  writeAnnotations: arn('write-annotations'),
  recordFailure: arn('record-failure'),
};

type State = Record<string, unknown>;

describe('default workflow ASL', () => {
  it('passes asl-validator', () => {
    const result = aslValidator(buildDefaultWorkflowDefinition(FUNCTIONS));

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('runs each node in its model type function', () => {
    const definition = buildDefaultWorkflowDefinition(FUNCTIONS) as { States: Record<string, State> };
    const branches = definition.States.RunModels?.Branches as Array<{ StartAt: string; States: Record<string, State> }>;

    expect(branches.map((branch) => branch.StartAt)).toEqual(DEFAULT_WORKFLOW_NODES.map((node) => node.id));
    for (const node of DEFAULT_WORKFLOW_NODES) {
      const task = branches.find((branch) => branch.StartAt === node.id)?.States[node.id];
      expect(task?.Resource).toBe(FUNCTIONS.models[node.modelTypeId]);
      expect(task?.Parameters).toMatchObject({ model_id: node.modelId, node_id: node.id });
    }
  });

  it('sends every failure to RecordFailure', () => {
    const definition = buildDefaultWorkflowDefinition(FUNCTIONS) as { States: Record<string, State> };

    for (const stateName of ['RunModels', 'WriteAnnotations']) {
      expect(definition.States[stateName]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' },
      ]);
    }
    expect(definition.States.RecordFailure?.Resource).toBe(FUNCTIONS.recordFailure);
    expect(definition.States.RecordFailure?.Next).toBe('Failed');
    expect(definition.States.Failed?.Type).toBe('Fail');
  });

  it('stays valid with a single node', () => {
    const definition = buildWorkflowDefinition(
      [{ id: 'only', modelId: 'ocr-text-detector', modelTypeId: 'visual-detector' }],
      FUNCTIONS,
    );

    expect(aslValidator(definition).isValid).toBe(true);
  });
});
