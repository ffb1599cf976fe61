/**
 * The ClusterTraining construct in the synthesized Percept stack: the training function's
 * limits and least-privilege grants, the rule on the engine's bus, and the API's right to put
 * the event. A small stack synthesized with bundling checks that the function's bundle loads
 * without the runtime layer (no ONNX Runtime, no sharp).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterTraining } from '../../lib/constructs/cluster-training.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { PROJECT_ROOT } from '../../lib/project.ts';
import { cdkJsonContext, logicalIdOf, synthesizePercept } from './synthesize.ts';
import { type PolicyStatement, actionsOf, statementsOf } from './template-helpers.ts';

const synthesized = synthesizePercept({ bundling: false });
const { stack, template } = synthesized;
const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'percept-cluster-training-test-'));
afterAll(() => {
  synthesized.cleanUp();
  fs.rmSync(scratchDir, { recursive: true, force: true });
});

const training = stack.clusterTraining;
const trainFunctionId = logicalIdOf(training.trainFunction);
const busId = logicalIdOf(stack.workflowEngine.eventBus);

function propertiesOf(logicalId: string): Record<string, any> {
  return (template.toJSON().Resources[logicalId] as { Properties: Record<string, any> }).Properties;
}

function resourcesOf(statements: readonly PolicyStatement[], actionPrefix: string): string[] {
  return statements
    .filter((statement) => actionsOf([statement]).some((action) => action.startsWith(actionPrefix)))
    .flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]))
    .map((resource) => JSON.stringify(resource));
}

describe('cluster training function', () => {
  it('runs up to 15 minutes', () => {
    const properties = propertiesOf(trainFunctionId);

    expect(properties.Timeout).toBe(900);
    expect(properties.MemorySize).toBe(3008);
    expect(properties.Runtime).toBe('nodejs24.x');
    expect(properties.Layers).toBeUndefined();
    expect(properties.Environment.Variables).toMatchObject({
      TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
      BUCKET_NAME: { Ref: logicalIdOf(stack.storage.bucket) },
    });
  });

  it('writes objects only under models/', () => {
    const statements = statementsOf(template, trainFunctionId);
    const objectResources = resourcesOf(statements, 's3:').filter((resource) => resource.includes('/'));

    expect(objectResources.length).toBeGreaterThan(0);
    for (const resource of objectResources) {
      expect(resource).toContain('/models/*');
    }
    expect(actionsOf(statements)).toContain('s3:PutObject');
    expect(actionsOf(statements)).toContain('s3:DeleteObject*');
  });

  it('uses only the table, the bucket and tracing', () => {
    const statements = statementsOf(template, trainFunctionId);
    const services = new Set(actionsOf(statements).map((action) => action.split(':')[0]));

    expect([...services].sort()).toEqual(['dynamodb', 's3', 'xray']);
    for (const resource of resourcesOf(statements, 'dynamodb:')) {
      expect(resource).toContain(logicalIdOf(stack.storage.table));
    }
  });
});

describe('cluster training rule', () => {
  it('sends queued versions to the function', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: busId },
      EventPattern: { source: ['percept'], 'detail-type': ['Clusterer Version Queued'] },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [trainFunctionId, 'Arn'] },
          Id: 'Target0',
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
        },
      ],
    });
  });

  it('lets only the rule invoke the function', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (resource) => JSON.stringify(resource.Properties.FunctionName).includes(trainFunctionId),
    );

    expect(permissions).toHaveLength(1);
    expect(permissions[0]?.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [trainFunctionId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalIdOf(training.queuedVersionRule), 'Arn'] },
    });
  });

  it('lets the api put events on the bus', () => {
    const apiId = logicalIdOf(stack.api.apiFunction);
    const putEvents = statementsOf(template, apiId).filter((statement) => actionsOf([statement]).includes('events:PutEvents'));

    expect(putEvents.map((statement) => statement.Resource)).toEqual([{ 'Fn::GetAtt': [busId, 'Arn'] }]);
    expect(propertiesOf(apiId).Environment.Variables.EVENT_BUS_NAME).toEqual({ Ref: busId });
  });
});

describe('cluster training bundle', () => {
  it('imports without the runtime layer', () => {
    const outdir = path.join(scratchDir, 'assembly');
    const app = new App({ outdir, context: cdkJsonContext() });
    const bundled = new Stack(app, 'ClusterTrainingBundle');
    const construct = new ClusterTraining(bundled, 'ClusterTraining', {
      storage: new Storage(bundled, 'Storage'),
      eventBus: new EventBus(bundled, 'Bus'),
    });
    const bundledTemplate = Template.fromStack(bundled);
    const assembly = app.synth();
    const code = (bundledTemplate.toJSON().Resources[logicalIdOf(construct.trainFunction)] as { Properties: { Code: { S3Key: string } } }).Properties.Code;
    const assetDir = path.join(assembly.directory, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
    const bundle = fs.readFileSync(path.join(assetDir, 'index.mjs'), 'utf8');

    // A copy outside the repository, so that no node_modules folder above it resolves packages.
    const taskDir = path.join(scratchDir, 'task');
    fs.cpSync(assetDir, taskDir, { recursive: true });
    const script = `const module = await import(${JSON.stringify(path.join(taskDir, 'index.mjs'))}); console.log(typeof module.handler);`;
    const output = execFileSync(path.join(PROJECT_ROOT, 'node_modules', '.bin', 'node'), ['--input-type=module', '-e', script], {
      cwd: scratchDir,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    }).trim();

    expect(bundle).not.toMatch(/from\s*["'](sharp|onnxruntime-node)["']/);
    expect(output).toBe('function');
  }, 120_000);
});
