/**
 * Optional workflow parts of the template: the EventBridge rule that ingests other
 * buckets' uploads, and a workflow compiled at synth time (a built-in workflow).
 */
import aslValidator from 'asl-validator';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { getModel, modelVersionId } from '#commons/models/index.ts';
import { parseWorkflowDefinition } from '#commons/workflows/definition.ts';
import { type ResolvedModel, operatorVersionId, resolveOnnxModel, resolveOperatorModel } from '#commons/workflows/model-types.ts';
import { OPERATORS } from '../../functions/operators/index.ts';
import { CompiledWorkflow } from '../../lib/constructs/compiled-workflow.ts';
import { logicalIdOf, synthesizePercept } from './synthesize.ts';
import { actionsOf, placeholderArn, resolveDefinition, statementsOf } from './template-helpers.ts';

const models = new Map<string, ResolvedModel>();
for (const id of ['ocr-text-detector', 'ocr-text-orientation']) {
  const manifest = getModel(id);
  models.set(id, resolveOnnxModel(id, manifest.model_type_id, await modelVersionId(id)));
}
const cropParams = { concepts: [], model_metadata: {} };
models.set('line-crop', resolveOperatorModel('line-crop', OPERATORS['image-crop'], cropParams, operatorVersionId('image-crop', cropParams)));

const definition = parseWorkflowDefinition(
  {
    id: 'ocr-lines',
    nodes: [
      { id: 'detect', model: { id: 'ocr-text-detector' } },
      { id: 'crop', model: { id: 'line-crop' }, node_inputs: [{ node_id: 'detect' }] },
      { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'crop' }] },
    ],
  },
  'workflow',
);

let compiled: CompiledWorkflow | undefined;
const synthesized = synthesizePercept({
  bundling: false,
  props: { externalUploadBuckets: ['camera-drops'] },
  extend: (stack) => {
    compiled = new CompiledWorkflow(stack, 'OcrLinesWorkflow', { engine: stack.workflowEngine, definition, models });
  },
});
const { stack, template } = synthesized;
afterAll(() => synthesized.cleanUp());

describe('external uploads', () => {
  it('rule sends their object events to ingest', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: ['camera-drops'] }, object: { key: [{ prefix: 'uploads/' }] } },
      },
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(stack.ingest.ingestFunction), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2 },
        }),
      ],
    });
  });

  it('model and operator functions read their uploads', () => {
    for (const fn of [...Object.values(stack.modelFunctions.byModelType), stack.workflowEngine.operatorsFunction]) {
      const resources = statementsOf(template, logicalIdOf(fn))
        .filter((statement) => actionsOf([statement]).some((action) => action.startsWith('s3:Get')))
        .map((statement) => JSON.stringify(statement.Resource));
      expect(resources.some((resource) => resource.includes(':s3:::camera-drops/uploads/*'))).toBe(true);
    }
  });
});

describe('compiled workflow', () => {
  const stateMachineId = logicalIdOf((compiled as CompiledWorkflow).stateMachine);
  const resource = template.toJSON().Resources[stateMachineId] as { Properties: Record<string, any> };
  const asl = resolveDefinition(resource.Properties.DefinitionString) as { States: Record<string, any> };

  it('is express, traced and runs as the workflow role', () => {
    expect(resource.Properties.StateMachineType).toBe('EXPRESS');
    expect(resource.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(resource.Properties.RoleArn).toEqual({ 'Fn::GetAtt': [logicalIdOf(stack.workflowEngine.workflowRole), 'Arn'] });
    expect(resource.Properties.LoggingConfiguration).toMatchObject({ Level: 'ERROR', IncludeExecutionData: true });
  });

  it('definition passes asl-validator', () => {
    const result = aslValidator(asl, { checkArn: true, checkPaths: true });

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('tasks call the stack functions', () => {
    const map = asl.States['crop crops'];

    expect(asl.States.detect.Resource).toBe(placeholderArn(logicalIdOf(stack.modelFunctions.visualDetector)));
    expect(asl.States.crop.Resource).toBe(placeholderArn(logicalIdOf(stack.workflowEngine.operatorsFunction)));
    expect(map.ItemProcessor.States.orient.Resource).toBe(placeholderArn(logicalIdOf(stack.modelFunctions.visualClassifier)));
    expect(asl.States['Write annotations'].Resource).toBe(placeholderArn(logicalIdOf(stack.workflowEngine.writeAnnotationsFunction)));
  });
});
