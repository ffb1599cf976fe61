/**
 * The search backend setting in the synthesized stack: the S3 Vectors bucket, the
 * variables and the S3 Vectors grants of the functions that search or index. Synthesized
 * with bundling skipped, once per setting.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidSearchBackendError } from '../../lib/constructs/vector-search.ts';
import { PerceptStack } from '../../lib/percept-stack.ts';
import { cdkJsonContext, logicalIdOf, synthesizePercept } from './synthesize.ts';
import { actionsOf, statementsOf, type PolicyStatement } from './template-helpers.ts';

function variablesOf(template: Template, fn: IConstruct): Record<string, unknown> {
  const resource = template.toJSON().Resources[logicalIdOf(fn)] as {
    Properties: { Environment: { Variables: Record<string, unknown> } };
  };
  return resource.Properties.Environment.Variables;
}

function s3VectorsStatements(template: Template, fn: IConstruct): PolicyStatement[] {
  return statementsOf(template, logicalIdOf(fn)).filter((statement) =>
    actionsOf([statement]).some((action) => action.startsWith('s3vectors:')),
  );
}

/** Returns every S3 Vectors action in the template's IAM policies, of any role. */
function allS3VectorsActions(template: Template): string[] {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  return Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .flatMap((policy) => actionsOf(policy.Properties.PolicyDocument.Statement as PolicyStatement[]))
    .filter((action) => action.startsWith('s3vectors:'));
}

describe('vector search with ivf', () => {
  const synthesized = synthesizePercept({ bundling: false });
  const { stack, template } = synthesized;
  afterAll(() => synthesized.cleanUp());

  it('ivf is the default of cdk.json', () => {
    expect(cdkJsonContext()['percept:searchBackend']).toBe('ivf');
    expect(stack.vectorSearch.backend).toBe('ivf');
  });

  it('ivf creates no vector bucket', () => {
    template.resourceCountIs('AWS::S3Vectors::VectorBucket', 0);
    expect(allS3VectorsActions(template)).toEqual([]);
  });

  it('ivf sets SEARCH_BACKEND only', () => {
    for (const fn of [stack.api.apiFunction, stack.workflowEngine.writeAnnotationsFunction]) {
      const variables = variablesOf(template, fn);
      expect(variables.SEARCH_BACKEND, fn.node.path).toBe('ivf');
      expect(variables.VECTOR_BUCKET_NAME, fn.node.path).toBeUndefined();
    }
  });
});

describe('vector search with s3-vectors', () => {
  const synthesized = synthesizePercept({ bundling: false, props: { vectorSearch: { backend: 's3-vectors' } } });
  const { stack, template } = synthesized;
  afterAll(() => synthesized.cleanUp());

  const bucketId = stack.getLogicalId(stack.vectorSearch.vectorBucket!);
  const bucketArn = { 'Fn::GetAtt': [bucketId, 'VectorBucketArn'] };
  const indexArns = { 'Fn::Join': ['', [bucketArn, '/index/*']] };

  it('s3-vectors creates a retained vector bucket', () => {
    template.resourceCountIs('AWS::S3Vectors::VectorBucket', 1);
    const bucket = template.toJSON().Resources[bucketId] as { Type: string; DeletionPolicy: string; UpdateReplacePolicy: string };
    expect(bucket.Type).toBe('AWS::S3Vectors::VectorBucket');
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
  });

  it('s3-vectors sets the backend variables', () => {
    for (const fn of [stack.api.apiFunction, stack.workflowEngine.writeAnnotationsFunction]) {
      const variables = variablesOf(template, fn);
      expect(variables.SEARCH_BACKEND, fn.node.path).toBe('s3-vectors');
      expect(variables.VECTOR_BUCKET_NAME, fn.node.path).toEqual({ 'Fn::Select': [1, { 'Fn::Split': ['/', bucketArn] }] });
    }
  });

  it('api function may search and index', () => {
    const statements = s3VectorsStatements(template, stack.api.apiFunction);

    const onIndexes = statements.filter((statement) => JSON.stringify(statement.Resource) === JSON.stringify(indexArns));
    const onBucket = statements.filter((statement) => JSON.stringify(statement.Resource) === JSON.stringify(bucketArn));
    expect(new Set(actionsOf(onIndexes))).toEqual(
      new Set(['s3vectors:GetIndex', 's3vectors:QueryVectors', 's3vectors:CreateIndex', 's3vectors:PutVectors', 's3vectors:DeleteVectors']),
    );
    expect(new Set(actionsOf(onBucket))).toEqual(new Set(['s3vectors:GetVectorBucket']));
    expect(onIndexes.length + onBucket.length).toBe(statements.length);
    expect(statements.every((statement) => statement.Effect === 'Allow')).toBe(true);
  });

  it('write-annotations may index but not query', () => {
    const statements = s3VectorsStatements(template, stack.workflowEngine.writeAnnotationsFunction);

    const onIndexes = statements.filter((statement) => JSON.stringify(statement.Resource) === JSON.stringify(indexArns));
    expect(new Set(actionsOf(onIndexes))).toEqual(
      new Set(['s3vectors:GetIndex', 's3vectors:CreateIndex', 's3vectors:PutVectors', 's3vectors:DeleteVectors']),
    );
    expect(actionsOf(statements)).not.toContain('s3vectors:QueryVectors');
    expect(actionsOf(statements)).not.toContain('s3vectors:*');
  });

  it('other functions get no S3 Vectors access', () => {
    const others = [
      ...Object.values(stack.modelFunctions.byModelType),
      stack.workflowEngine.operatorsFunction,
      stack.workflowEngine.recordFailureFunction,
      stack.api.authorizerFunction,
      stack.ingest.ingestFunction,
    ];
    for (const fn of others) {
      expect(s3VectorsStatements(template, fn), fn.node.path).toEqual([]);
      expect(variablesOf(template, fn).VECTOR_BUCKET_NAME, fn.node.path).toBeUndefined();
    }
  });

  it('s3-vectors outputs the bucket name', () => {
    template.hasOutput('VectorBucketName', { Value: { 'Fn::Select': [1, { 'Fn::Split': ['/', bucketArn] }] } });
  });
});

describe('vector search settings', () => {
  function synthesizeWithContext(backend: string): PerceptStack {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'percept-cdk-test-'));
    try {
      const app = new App({
        outdir,
        context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], 'percept:searchBackend': backend },
      });
      const stack = new PerceptStack(app, 'Percept');
      Template.fromStack(stack);
      return stack;
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }

  it('context key selects s3-vectors', () => {
    const stack = synthesizeWithContext('s3-vectors');

    expect(stack.vectorSearch.backend).toBe('s3-vectors');
    expect(stack.vectorSearch.vectorBucket).toBeDefined();
  });

  it('unknown backend fails synth', () => {
    expect(() => synthesizeWithContext('faiss')).toThrow(InvalidSearchBackendError);
    expect(() => synthesizeWithContext('faiss')).toThrow(
      'Search backend "faiss" is unknown. Set percept:searchBackend to one of ivf, s3-vectors.',
    );
  });

  it('named vector bucket', () => {
    const synthesized = synthesizePercept({
      bundling: false,
      props: { vectorSearch: { backend: 's3-vectors', vectorBucketName: 'percept-image-vectors' } },
    });
    try {
      synthesized.template.hasResourceProperties('AWS::S3Vectors::VectorBucket', { VectorBucketName: 'percept-image-vectors' });
      expect(variablesOf(synthesized.template, synthesized.stack.api.apiFunction).VECTOR_BUCKET_NAME).toBe('percept-image-vectors');
    } finally {
      synthesized.cleanUp();
    }
  });
});
