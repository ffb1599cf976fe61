/**
 * Workflows and the model store on the local stack, over HTTP as a Clarifai client calls
 * them: operator models, workflows compiled into state machines, their results on sent
 * images, and an app's default workflow on ingested inputs. Every node runs for real: the
 * ONNX models, the operators, the Step Functions interpreter.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { IMAGES_DIR, callApi, imageBase64, localS3Client, waitForInput } from './helpers.ts';

let stack: LocalStack;
let s3: S3Client;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  s3 = localS3Client(stack);

  // The models and the workflow that most tests share.
  for (const model of [
    { id: 'line-crop', model_type_id: 'image-crop' },
    {
      id: 'upright-only',
      model_type_id: 'concept-thresholder',
      output_info: {
        data: { concepts: [{ id: 'rotation-0', value: 0.5 }] },
        output_config: { model_metadata: { concept_threshold_type: 'GREATER_THAN' } },
      },
    },
  ]) {
    const created = await callApi(stack, 'POST', '/v2/models', { model });
    if (created.httpStatus !== 200) {
      throw new Error(`creating model ${model.id} failed: ${JSON.stringify(created.body)}`);
    }
  }
  const created = await callApi(stack, 'POST', '/v2/workflows', { workflows: [OCR_LINES] });
  if (created.httpStatus !== 200) {
    throw new Error(`creating workflow ocr-lines failed: ${JSON.stringify(created.body)}`);
  }
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

const OCR_LINES = {
  id: 'ocr-lines',
  description: 'Text lines, each checked for orientation',
  nodes: [
    { id: 'detect', model: { id: 'ocr-text-detector' } },
    { id: 'crop', model: { id: 'line-crop' }, node_inputs: [{ node_id: 'detect' }] },
    { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'crop' }] },
    { id: 'upright', model: { id: 'upright-only' }, node_inputs: [{ node_id: 'orient' }] },
  ],
};

function imageInput(id: string, file: string, metadata?: Record<string, unknown>): Record<string, unknown> {
  return { id, data: { image: { base64: imageBase64(file) }, ...(metadata === undefined ? {} : { metadata }) } };
}

function outputsByModel(result: any): Record<string, any> {
  return Object.fromEntries(result.outputs.map((output: any) => [output.model.id, output]));
}

describe('model store', () => {
  it('creates an operator model', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'half', model_type_id: 'random-sample', output_info: { output_config: { model_metadata: { keep_fraction: 0.5 } } } },
    });

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10000);
    expect(body.model).toMatchObject({
      id: 'half',
      app_id: 'main',
      model_type_id: 'random-sample',
      output_info: { output_config: { model_metadata: { keep_fraction: 0.5 } } },
    });
    expect(body.model.model_version.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('lists built-in and app models', async () => {
    const { body } = await callApi(stack, 'GET', '/v2/models?per_page=1000');
    const types = Object.fromEntries(body.models.map((model: any) => [model.id, model.model_type_id]));

    expect(types['ocr-text-detector']).toBe('visual-detector');
    expect(types['upright-only']).toBe('concept-thresholder');

    const one = await callApi(stack, 'GET', '/v2/models/upright-only');
    expect(one.httpStatus).toBe(200);
    expect(one.body.model.output_info.data.concepts).toEqual([{ id: 'rotation-0', value: 0.5, app_id: 'main' }]);
  });

  it('takes Clarifai output_info.params', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models', {
      model: {
        id: 'less-than',
        model_type_id: 'concept-thresholder',
        output_info: { data: { concepts: [{ id: 'rotation-180', value: 0.5 }] }, params: { concept_threshold_type: 'LESS_THAN' } },
      },
    });

    expect(httpStatus).toBe(200);
    expect(body.model.output_info.output_config.model_metadata).toEqual({ concept_threshold_type: 'LESS_THAN' });
  });

  it('rejects an ONNX model without its file', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'my-classifier', model_type_id: 'visual-classifier' },
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_FILE_MISSING');
    expect(body.status.details).toContain('model.model_version.onnx.base64');
  });

  it('rejects an invalid parameter', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'too-many', model_type_id: 'random-sample', output_info: { output_config: { model_metadata: { keep_fraction: 2 } } } },
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_MODEL_PARAMETER');
    expect(body.status.details).toContain('output_info.output_config.model_metadata.keep_fraction');
    expect((await callApi(stack, 'GET', '/v2/models/too-many')).httpStatus).toBe(404);
  });

  it('rejects an unknown type and a taken id', async () => {
    const unknown = await callApi(stack, 'POST', '/v2/models', { model: { id: 'x', model_type_id: 'text-to-speech' } });
    expect(unknown.httpStatus).toBe(400);
    expect(unknown.body.status.error_code).toBe('INVALID_MODEL_TYPE');
    expect(unknown.body.status.details).toContain('concept-thresholder');

    const builtin = await callApi(stack, 'POST', '/v2/models', { model: { id: 'ocr-text-detector', model_type_id: 'image-crop' } });
    expect(builtin.httpStatus).toBe(400);
    expect(builtin.body.status.error_code).toBe('MODEL_ALREADY_EXISTS');
  });

  it('deletes app models only when unused', async () => {
    const builtin = await callApi(stack, 'DELETE', '/v2/models/ocr-text-detector');
    expect(builtin.httpStatus).toBe(400);
    expect(builtin.body.status.error_code).toBe('MODEL_NOT_DELETABLE');

    const inUse = await callApi(stack, 'DELETE', '/v2/models/line-crop');
    expect(inUse.httpStatus).toBe(400);
    expect(inUse.body.status.error_code).toBe('MODEL_IN_USE');
    expect(inUse.body.status.details).toContain('"ocr-lines"');

    await callApi(stack, 'POST', '/v2/models', { model: { id: 'unused', model_type_id: 'image-crop' } });
    const deleted = await callApi(stack, 'DELETE', '/v2/models/unused');
    expect(deleted.httpStatus).toBe(200);
    expect((await callApi(stack, 'GET', '/v2/models/unused')).httpStatus).toBe(404);
  });

  it('rejects predict on an operator', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/line-crop/outputs', { inputs: [imageInput('p', 'text.png')] });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_NOT_PREDICTABLE');
  });
});

describe('workflow routes', () => {
  it('creates a state machine per workflow', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/workflows/ocr-lines');

    expect(httpStatus).toBe(200);
    expect(body.workflow.id).toBe('ocr-lines');
    expect(body.workflow.nodes.map((node: any) => node.id)).toEqual(['detect', 'crop', 'orient', 'upright']);
    expect(body.workflow.nodes[0].model.model_version.id).toMatch(/^[0-9a-f]{32}$/);
    expect(stack.stateMachineArns().some((arn) => arn.includes(':stateMachine:percept-wf-') && arn.endsWith('-ocr-lines'))).toBe(true);

    const listed = await callApi(stack, 'GET', '/v2/workflows');
    expect(listed.body.workflows.map((workflow: any) => workflow.id)).toContain('ocr-lines');
  });

  it('runs detect, crop, classify and threshold', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/ocr-lines/results', {
      inputs: [imageInput('page', 'page.png'), imageInput('text', 'text.png')],
    });

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10000);
    expect(body.results.map((result: any) => result.input.id)).toEqual(['page', 'text']);
    const [page] = body.results;
    expect(page.status.code).toBe(10000);
    expect(page.outputs.map((output: any) => output.model.id)).toEqual([
      'ocr-text-detector',
      'line-crop',
      'ocr-text-orientation',
      'upright-only',
    ]);

    const byModel = outputsByModel(page);
    const lines = byModel['ocr-text-detector'].data.regions;
    expect(lines.length).toBeGreaterThanOrEqual(5);
    const orientations = byModel['ocr-text-orientation'].data.regions;
    expect(orientations.map((region: any) => region.id).sort()).toEqual(lines.map((region: any) => region.id).sort());
    for (const region of orientations) {
      expect(region.data.concepts.map((concept: any) => concept.id).sort()).toEqual(['rotation-0', 'rotation-180']);
    }
    // The thresholder keeps, per crop, the upright concept when it is above 0.5.
    const uprightIds = orientations
      .filter((region: any) => region.data.concepts.find((concept: any) => concept.id === 'rotation-0').value > 0.5)
      .map((region: any) => region.id);
    expect(uprightIds.length).toBeGreaterThan(0);
    const upright = byModel['upright-only'].data.regions;
    expect(upright.map((region: any) => region.id).sort()).toEqual(uprightIds.sort());
    for (const region of upright) {
      expect(region.data.concepts.map((concept: any) => concept.id)).toEqual(['rotation-0']);
    }
  });

  it('rejects a cropper fed by a classifier', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [
        {
          id: 'mismatch',
          nodes: [
            { id: 'orient', model: { id: 'ocr-text-orientation' } },
            { id: 'crop', model: { id: 'line-crop' }, node_inputs: [{ node_id: 'orient' }] },
          ],
        },
      ],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('WORKFLOW_TYPE_MISMATCH');
    expect(body.status.details).toContain('Node "crop"');
    expect((await callApi(stack, 'GET', '/v2/workflows/mismatch')).httpStatus).toBe(404);
  });

  it('rejects an unknown model by node', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'unknown', nodes: [{ id: 'mystery', model: { id: 'no-such-model' } }] }],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_NOT_FOUND');
    expect(body.status.details).toContain('Node "mystery": model "no-such-model" does not exist');
  });

  it('skips nodes behind a sampler that drops', async () => {
    await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'drop-all', model_type_id: 'random-sample', output_info: { output_config: { model_metadata: { keep_fraction: 0 } } } },
    });
    await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [
        {
          id: 'sampled',
          nodes: [
            { id: 'sample', model: { id: 'drop-all' } },
            { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'sample' }] },
          ],
        },
      ],
    });
    const classifierRuns = stack.invocationCounts()['percept-visual-classifier'] ?? 0;

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/sampled/results', { inputs: [imageInput('t', 'text.png')] });

    expect(httpStatus).toBe(200);
    const orient = outputsByModel(body.results[0])['ocr-text-orientation'];
    expect(orient.data).toEqual({});
    expect(orient.status.details).toContain('Not run');
    expect(stack.invocationCounts()['percept-visual-classifier'] ?? 0).toBe(classifierRuns);
  });

  it('fails one input by node while another succeeds', async () => {
    // The router has one concept but no downstream node, which it reports at run time. The
    // filter lets only inputs with metadata {"check": true} reach it.
    await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'only-checked', model_type_id: 'input-filter', output_info: { output_config: { model_metadata: { input_metadata: { check: true } } } } },
    });
    await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'broken-router', model_type_id: 'router', output_info: { data: { concepts: [{ id: 'rotation-180', value: 0.5 }] } } },
    });
    const created = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [
        {
          id: 'partly-broken',
          nodes: [
            { id: 'filter', model: { id: 'only-checked' } },
            { id: 'detect', model: { id: 'ocr-text-detector' }, node_inputs: [{ node_id: 'filter' }] },
            { id: 'crop', model: { id: 'line-crop' }, node_inputs: [{ node_id: 'detect' }] },
            { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'crop' }] },
            { id: 'route', model: { id: 'broken-router' }, node_inputs: [{ node_id: 'orient' }] },
          ],
        },
      ],
    });
    expect(created.httpStatus).toBe(200);

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/partly-broken/results', {
      inputs: [imageInput('checked', 'text.png', { check: true }), imageInput('unchecked', 'text.png')],
    });

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10010);
    const [checked, unchecked] = body.results;
    expect(checked.status.code).toBe(10020);
    expect(checked.status.error_code).toBe('ROUTER_BRANCH_MISMATCH');
    expect(checked.status.details).toMatch(/^Node "route" \(model broken-router\) failed: /);
    expect(unchecked.status.code).toBe(10000);
    expect(outputsByModel(unchecked)['ocr-text-detector'].status.details).toContain('Not run');
  });

  it('deletes a workflow and its state machine', async () => {
    await callApi(stack, 'POST', '/v2/workflows', { workflows: [{ id: 'short-lived', nodes: [{ id: 'detect', model: { id: 'ocr-text-detector' } }] }] });
    const arn = stack.stateMachineArns().find((candidate) => candidate.endsWith('-short-lived'));
    expect(arn).toBeDefined();

    const deleted = await callApi(stack, 'DELETE', '/v2/workflows/short-lived');

    expect(deleted.httpStatus).toBe(200);
    expect(stack.stateMachineArns()).not.toContain(arn);
    const after = await callApi(stack, 'GET', '/v2/workflows/short-lived');
    expect(after.httpStatus).toBe(404);
    expect(after.body.status.error_code).toBe('WORKFLOW_NOT_FOUND');
  });

  it('rejects more than 32 inputs', async () => {
    const inputs = Array.from({ length: 33 }, (_, index) => imageInput(`i${index}`, 'text.png'));

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/ocr-lines/results', { inputs });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('TOO_MANY_INPUTS');
  });
});

describe('built-in default workflow', () => {
  it('is listed and described', async () => {
    const listed = await callApi(stack, 'GET', '/v2/workflows');
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/workflows/default');

    expect(listed.body.workflows[0].id).toBe('default');
    expect(httpStatus).toBe(200);
    expect(body.workflow).toEqual(listed.body.workflows[0]);
    expect(body.workflow.nodes.map((node: any) => [node.id, node.model.id])).toEqual([
      ['object-detection', 'general-object-detection'],
      ['image-embedding', 'general-image-embedding'],
      ['text-detection', 'ocr-text-detector'],
      ['text-orientation', 'ocr-text-orientation'],
    ]);
    const models = (await callApi(stack, 'GET', '/v2/models')).body.models as any[];
    for (const node of body.workflow.nodes) {
      const model = models.find((candidate) => candidate.id === node.model.id);
      expect(node.model.model_version.id).toBe(model.model_version.id);
    }
  });

  it('runs through the results route', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/default/results', {
      inputs: [imageInput('cat', 'chelsea.jpg')],
    });

    expect(httpStatus).toBe(200);
    expect(body.workflow.id).toBe('default');
    const [result] = body.results;
    expect(result.status.code).toBe(10000);
    expect(result.outputs.map((output: any) => output.model.id)).toEqual([
      'general-object-detection',
      'general-image-embedding',
      'ocr-text-detector',
      'ocr-text-orientation',
    ]);
    const byModel = outputsByModel(result);
    expect(byModel['general-object-detection'].data.regions[0].data.concepts[0].id).toBe('cat');
    expect(byModel['general-image-embedding'].data.embeddings[0].num_dimensions).toBe(120);
    expect(byModel['ocr-text-orientation'].data.concepts).toHaveLength(2);
    expect(stack.executions().at(-1)?.stateMachineArn).toMatch(/:stateMachine:percept-default-workflow-results$/);
    expect(stack.events().some((event) => event.detail.input_id === 'cat')).toBe(false);
  });

  it('cannot be created or deleted', async () => {
    const created = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'default', nodes: [{ id: 'detect', model: { id: 'ocr-text-detector' } }] }],
    });
    const deleted = await callApi(stack, 'DELETE', '/v2/workflows/default');

    expect(created.httpStatus).toBe(400);
    expect(created.body.status.error_code).toBe('WORKFLOW_ALREADY_EXISTS');
    expect(created.body.status.details).toBe('Workflow id "default" is the built-in default workflow. Choose another id.');
    expect(deleted.httpStatus).toBe(400);
    expect(deleted.body.status.error_code).toBe('WORKFLOW_NOT_DELETABLE');
    expect(deleted.body.status.details).toContain('"default" is the built-in default workflow, which cannot be deleted');
    expect((await callApi(stack, 'GET', '/v2/workflows/default')).httpStatus).toBe(200);
  });
});

describe('app default workflow', () => {
  it('runs on inputs added through the API', async () => {
    const patched = await callApi(stack, 'PATCH', '/v2/apps', {
      action: 'overwrite',
      apps: [{ id: 'main', default_workflow_id: 'ocr-lines' }],
    });
    expect(patched.httpStatus).toBe(200);
    expect(patched.body.apps[0].default_workflow_id).toBe('ocr-lines');
    expect((await callApi(stack, 'GET', '/v2/apps/main')).body.app.default_workflow_id).toBe('ocr-lines');

    await callApi(stack, 'POST', '/v2/inputs', { inputs: [imageInput('default-page', 'page.png')] });
    const input = await waitForInput(stack, 'default-page');

    expect(input.status.code).toBe(30000);
    const { body } = await callApi(stack, 'GET', '/v2/inputs/default-page/annotations');
    const byModel = Object.fromEntries(body.annotations.map((annotation: any) => [annotation.worker.model.id, annotation]));
    expect(Object.keys(byModel).sort()).toEqual(['line-crop', 'ocr-text-detector', 'ocr-text-orientation', 'upright-only']);
    expect(byModel['ocr-text-orientation'].data.regions.length).toBe(byModel['ocr-text-detector'].data.regions.length);
    expect(byModel['upright-only'].data.regions.length).toBeGreaterThan(0);
    expect(byModel['upright-only'].id).not.toBe(byModel['ocr-text-orientation'].id);

    const completion = stack.events().find((event) => event.detail.input_id === 'default-page');
    expect(completion).toMatchObject({
      source: 'percept',
      'detail-type': 'Workflow Execution Completed',
      eventBusName: stack.eventBusName,
      detail: { app_id: 'main', workflow_id: 'ocr-lines', status: 'SUCCEEDED' },
    });
    expect(completion?.detail.annotation_ids).toHaveLength(4);
  });

  it('records the failing node on the input', async () => {
    const upload = async (key: string, body: Buffer): Promise<void> => {
      await s3.send(new PutObjectCommand({ Bucket: stack.bucketName, Key: key, Body: body }));
    };
    await upload('uploads/main/broken.png', Buffer.from('not an image at all'));
    await upload('uploads/main/fine.png', readFileSync(path.join(IMAGES_DIR, 'text.png')));

    const broken = await waitForInput(stack, 'broken.png');
    const fine = await waitForInput(stack, 'fine.png');

    expect(broken.status.code).toBe(30002);
    expect(broken.status.error_code).toBe('NOT_AN_IMAGE');
    expect(broken.status.details).toMatch(/^Node "detect" \(model ocr-text-detector\) failed: /);
    expect(fine.status.code).toBe(30000);
    const completion = stack.events().find((event) => event.detail.input_id === 'broken.png');
    expect(completion?.detail).toMatchObject({ status: 'FAILED', node_id: 'detect', error_code: 'NOT_AN_IMAGE' });
  });

  it('ingests uploads from EventBridge', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: stack.externalBucketName,
        Key: 'uploads/main/from-events.png',
        Body: readFileSync(path.join(IMAGES_DIR, 'text.png')),
      }),
    );

    const input = await waitForInput(stack, 'from-events.png');

    expect(input.status.code).toBe(30000);
    expect(input.data.image.url).toBe(`s3://${stack.externalBucketName}/uploads/main/from-events.png`);
    expect(stack.events().some((event) => event.source === 'aws.s3' && (event.detail.object as { key?: string } | undefined)?.key === 'uploads/main/from-events.png')).toBe(true);
  });

  it('keeps a default workflow from deletion', async () => {
    const { httpStatus, body } = await callApi(stack, 'DELETE', '/v2/workflows/ocr-lines');

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('WORKFLOW_IN_USE');
  });

  it('rejects another app and unknown workflows', async () => {
    const other = await callApi(stack, 'PATCH', '/v2/apps', { apps: [{ id: 'other', default_workflow_id: 'ocr-lines' }] });
    expect(other.httpStatus).toBe(400);
    expect(other.body.status.error_code).toBe('APP_MISMATCH');

    const unknown = await callApi(stack, 'PATCH', '/v2/apps', { apps: [{ id: 'main', default_workflow_id: 'nope' }] });
    expect(unknown.httpStatus).toBe(404);
    expect(unknown.body.status.error_code).toBe('WORKFLOW_NOT_FOUND');
  });

  it('goes back to the built-in workflow', async () => {
    const reset = await callApi(stack, 'PATCH', '/v2/apps', { apps: [{ id: 'main', default_workflow_id: '' }] });

    expect(reset.httpStatus).toBe(200);
    expect(reset.body.apps[0].default_workflow_id).toBe('default');
    await callApi(stack, 'POST', '/v2/inputs', { inputs: [imageInput('builtin-again', 'text.png')] });
    expect((await waitForInput(stack, 'builtin-again')).status.code).toBe(30000);
    const arns = stack.executions().map((execution) => execution.stateMachineArn);
    expect(arns.at(-1)).toMatch(/:stateMachine:percept-default-workflow$/);
  });
});
