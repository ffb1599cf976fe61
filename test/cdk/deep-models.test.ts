/**
 * The DeepModels construct in the synthesized Percept stack: the shared GPU endpoint with
 * scale to zero, the training and execution roles, the EventBridge rule, and least-privilege
 * grants to the API and model functions. A small stack synthesized with bundling checks the
 * two assets that `cdk synth` stages without Docker.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { list } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { DeepModels, DeepModelsPropsError, SERVING_INSTANCE_CONTEXT_KEY, TRAINING_INSTANCE_CONTEXT_KEY } from '../../lib/constructs/deep-models.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { cdkJsonContext, logicalIdOf, synthesizePercept } from './synthesize.ts';
import { actionsOf, statementsOf, statementsOfRole, type PolicyStatement } from './template-helpers.ts';

const synthesized = synthesizePercept({ bundling: false });
const { stack, template } = synthesized;
afterAll(() => synthesized.cleanUp());

const deep = stack.deepModels;

function resourcesOf(statements: readonly PolicyStatement[], action: string): string[] {
  return statements
    .filter((statement) => actionsOf([statement]).includes(action))
    .flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]))
    .map((resource) => JSON.stringify(resource));
}

function environmentOf(logicalId: string): Record<string, unknown> {
  const resource = template.toJSON().Resources[logicalId] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
  return resource.Properties.Environment.Variables;
}

describe('deep models endpoint', () => {
  it('gpu variant scales to zero', () => {
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ExecutionRoleArn: { 'Fn::GetAtt': [logicalIdOf(deep.executionRole), 'Arn'] },
      ProductionVariants: [
        {
          VariantName: 'AllTraffic',
          InstanceType: 'ml.g5.xlarge',
          InitialInstanceCount: 1,
          ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 2 },
          RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
          ModelName: Match.absent(),
        },
      ],
    });
  });

  it('endpoint has the prefixed name', () => {
    template.hasResourceProperties('AWS::SageMaker::Endpoint', {
      EndpointName: 'percept-deep-models',
      EndpointConfigName: { 'Fn::GetAtt': [stack.getLogicalId(deep.endpointConfig), 'EndpointConfigName'] },
    });
  });

  it('rule sends training job events', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.sagemaker'],
        'detail-type': ['SageMaker Training Job State Change'],
        detail: { TrainingJobName: [{ prefix: 'percept-' }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIdOf(deep.jobStateFunction), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 } })],
    });
  });
});

describe('deep models iam', () => {
  const trainingStatements = statementsOfRole(template, logicalIdOf(deep.trainingRole));
  const executionStatements = statementsOfRole(template, logicalIdOf(deep.executionRole));
  const apiStatements = statementsOf(template, logicalIdOf(stack.api.apiFunction));
  const jobStateStatements = statementsOf(template, logicalIdOf(deep.jobStateFunction));
  const classifierStatements = statementsOf(template, logicalIdOf(stack.modelFunctions.visualClassifier));
  const bucketId = logicalIdOf(stack.storage.bucket);

  it.each([
    ['training', deep.trainingRole],
    ['execution', deep.executionRole],
  ])('%s role trusts only sagemaker', (_name, role) => {
    const resource = template.toJSON().Resources[logicalIdOf(role)] as { Properties: Record<string, any> };

    expect(resource.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'sagemaker.amazonaws.com' } },
    ]);
    expect(resource.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('training role reads datasets and images, writes outputs', () => {
    const reads = resourcesOf(trainingStatements, 's3:GetObject').filter((resource) => resource.includes(bucketId));
    const writes = resourcesOf(trainingStatements, 's3:PutObject');

    expect(reads.map((resource) => resource.replace(/.*"\/(.*?)"\]\]\}$/, '$1'))).toEqual(['training/*/dataset/*', 'training/*/manifest/*', 'uploads/*']);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('/training/*/output/*');
    expect(actionsOf(trainingStatements)).not.toContain('s3:DeleteObject');
    expect(actionsOf(trainingStatements).filter((action) => action.startsWith('sagemaker:'))).toEqual([]);
  });

  it('training role pulls only the training image', () => {
    const pulls = resourcesOf(trainingStatements, 'ecr:BatchGetImage');

    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toContain(':763104351884:repository/pytorch-training');
    expect(resourcesOf(trainingStatements, 'ecr:GetAuthorizationToken')).toEqual(['"*"']);
  });

  it('execution role reads model outputs', () => {
    const reads = resourcesOf(executionStatements, 's3:GetObject');

    expect(reads).toHaveLength(1);
    expect(reads[0]).toContain('/training/*/output/*');
    expect(actionsOf(executionStatements)).toEqual(expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']));
    expect(actionsOf(executionStatements)).not.toContain('s3:PutObject');
  });

  it('api starts only percept training jobs', () => {
    const resources = resourcesOf(apiStatements, 'sagemaker:CreateTrainingJob');

    expect(resources).toHaveLength(1);
    expect(resources[0]).toContain(':training-job/percept-*');
  });

  it('api passes only the training role to sagemaker', () => {
    const passRole = apiStatements.filter(
      (statement) => actionsOf([statement]).includes('iam:PassRole') && JSON.stringify(statement).includes('sagemaker.amazonaws.com'),
    );

    expect(passRole).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [logicalIdOf(deep.trainingRole), 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    ]);
  });

  it('job state passes only the execution role', () => {
    const passRole = jobStateStatements.filter((statement) => actionsOf([statement]).includes('iam:PassRole'));

    expect(passRole).toEqual([
      expect.objectContaining({ Resource: { 'Fn::GetAtt': [logicalIdOf(deep.executionRole), 'Arn'] } }),
    ]);
    expect(resourcesOf(jobStateStatements, 'sagemaker:CreateModel')[0]).toContain(':model/percept-*');
    expect(resourcesOf(jobStateStatements, 'sagemaker:CreateInferenceComponent').join(' ')).toContain(':inference-component/percept-*');
    expect(resourcesOf(jobStateStatements, 'sagemaker:CreateInferenceComponent').join(' ')).toContain(':endpoint/percept-deep-models');
  });

  it('sagemaker actions name percept resources', () => {
    for (const statements of [apiStatements, jobStateStatements, classifierStatements]) {
      const sagemakerResources = statements
        .filter((statement) => actionsOf([statement]).some((action) => action.startsWith('sagemaker:')))
        .flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]))
        .map((resource) => JSON.stringify(resource));

      expect(sagemakerResources.length).toBeGreaterThan(0);
      for (const resource of sagemakerResources) {
        expect(resource).toMatch(/:(training-job|model|inference-component)\/percept-\*|:endpoint\/percept-deep-models/);
      }
    }
  });

  it('model function invokes the endpoint', () => {
    const resources = resourcesOf(classifierStatements, 'sagemaker:InvokeEndpoint').join(' ');

    expect(resources).toContain(':endpoint/percept-deep-models');
    expect(actionsOf(classifierStatements)).not.toContain('sagemaker:CreateTrainingJob');
  });
});

describe('deep models env', () => {
  it('api function env', () => {
    expect(environmentOf(logicalIdOf(stack.api.apiFunction))).toMatchObject({
      TRAINING_ROLE_ARN: { 'Fn::GetAtt': [logicalIdOf(deep.trainingRole), 'Arn'] },
      TRAINING_INSTANCE_TYPE: 'ml.g5.xlarge',
      TRAINING_MAX_SECONDS: '14400',
      TRAINING_IMAGE_URI: {
        'Fn::Join': ['', ['763104351884.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker']],
      },
      TRAINING_SOURCE_URI: expect.anything(),
      DEEP_MODELS_ENDPOINT_NAME: 'percept-deep-models',
      SERVING_INSTANCE_TYPE: 'ml.g5.xlarge',
    });
  });

  it('job state function env', () => {
    expect(environmentOf(logicalIdOf(deep.jobStateFunction))).toMatchObject({
      DEEP_MODELS_ENDPOINT_NAME: 'percept-deep-models',
      DEEP_MODELS_EXECUTION_ROLE_ARN: { 'Fn::GetAtt': [logicalIdOf(deep.executionRole), 'Arn'] },
      DEEP_MODELS_MAX_COPIES: '2',
      SERVING_IMAGE_URI: expect.anything(),
      TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
    });
  });
});

describe('deep models props', () => {
  function smallStack(context: Record<string, unknown> = {}): Stack {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } });
    return new Stack(app, 'Small');
  }

  it('instance types from context', () => {
    const small = smallStack({ [SERVING_INSTANCE_CONTEXT_KEY]: 'ml.g6.xlarge', [TRAINING_INSTANCE_CONTEXT_KEY]: 'ml.g6.2xlarge' });
    const models = new DeepModels(small, 'DeepModels', { storage: new Storage(small, 'Storage') });

    expect(models.trainingInstanceType).toBe('ml.g6.2xlarge');
    Template.fromStack(small).hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g6.xlarge' })],
    });
  });

  it('fails for a cpu serving instance', () => {
    const small = smallStack();

    expect(() => new DeepModels(small, 'DeepModels', { storage: new Storage(small, 'Storage'), servingInstanceType: 'ml.m5.xlarge', maxInstances: 0 })).toThrow(
      new DeepModelsPropsError(
        'DeepModels Small/DeepModels has invalid props: servingInstanceType "ml.m5.xlarge" is not a GPU instance type of the ml.g5, ml.g6 or ml.g6e family, e.g. ml.g5.xlarge or ml.g6.xlarge. maxInstances must be a whole number of at least 1, got 0.',
      ),
    );
  });
});

describe('deep models assets', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'percept-deep-assets-'));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const app = new App({ outdir, context: cdkJsonContext() });
  const small = new Stack(app, 'Small');
  new DeepModels(small, 'DeepModels', { storage: new Storage(small, 'Storage') });
  const assembly = app.synth();
  const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'Small.assets.json'), 'utf8')) as {
    files: Record<string, { source: { path: string; packaging: string } }>;
    dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
  };

  it('training source is a tar.gz', async () => {
    const archive = Object.values(manifest.files).find((file) => file.source.path.endsWith('.tar.gz'));
    const entries: string[] = [];

    await list({ file: path.join(assembly.directory, archive?.source.path ?? 'missing'), onReadEntry: (entry) => entries.push(entry.path) });

    expect(archive?.source.packaging).toBe('file');
    expect(entries).toContain('train.py');
    expect(entries.some((entry) => entry.endsWith('.pyc'))).toBe(false);
  });

  it('serving image stages its context only', () => {
    const [image] = Object.values(manifest.dockerImages);
    const directory = path.join(assembly.directory, image?.source.directory ?? 'missing');
    const files = fs.readdirSync(directory, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)));

    expect(image?.source.dockerFile).toBe('sagemaker/serving/Dockerfile');
    expect(image?.source.platform).toBe('linux/amd64');
    expect(files).toEqual(expect.arrayContaining(['sagemaker/serving/Dockerfile', 'sagemaker/serving/server.ts', 'package.json', 'package-lock.json']));
    expect(files.some((file) => file.startsWith('node_modules'))).toBe(false);
    expect(files.some((file) => file.startsWith('test'))).toBe(false);
  });
});
