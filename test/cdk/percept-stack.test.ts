/**
 * Properties of the synthesized Percept template: functions, storage, S3 notification,
 * workflow definition, IAM and HTTP API. None of them needs the bundled assets, so this
 * file synthesizes once with bundling skipped.
 */
import aslValidator from 'asl-validator';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { modelVersionId } from '#commons/models/index.ts';
import { API_ROUTES } from '../../lib/constructs/http-api.ts';
import { logicalIdOf, synthesizePercept } from './synthesize.ts';
import {
  actionsOf,
  getAttIds,
  placeholderArn,
  resolveDefinition,
  statementsOf,
  statementsOfRole,
  type PolicyStatement,
} from './template-helpers.ts';

const synthesized = synthesizePercept({ bundling: false });
const { stack, template } = synthesized;
afterAll(() => synthesized.cleanUp());

const modelFunctions = Object.entries(stack.modelFunctions.byModelType);
const allFunctions = [
  ...modelFunctions.map(([, modelFunction]) => modelFunction),
  stack.workflowEngine.operatorsFunction,
  stack.api.apiFunction,
  stack.api.authorizerFunction,
  stack.ingest.ingestFunction,
  stack.workflowEngine.writeAnnotationsFunction,
  stack.workflowEngine.recordFailureFunction,
];

function functionProperties(fn: (typeof allFunctions)[number]): Record<string, unknown> {
  const resource = template.toJSON().Resources[logicalIdOf(fn)] as { Properties: Record<string, unknown> };
  return resource.Properties;
}

function s3ObjectResources(statements: readonly PolicyStatement[]): string[] {
  return statements
    .filter((statement) => actionsOf([statement]).some((action) => action.startsWith('s3:')))
    .flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]))
    .map((resource) => JSON.stringify(resource))
    .filter((resource) => resource.includes('/'));
}

describe('lambda functions', () => {
  it.each(allFunctions.map((fn) => [fn.node.path, fn] as const))('%s runtime and logging', (_path, fn) => {
    const properties = functionProperties(fn);

    expect(properties.Runtime).toBe('nodejs24.x');
    expect(properties.Architectures).toEqual(['x86_64']);
    expect(properties.Handler).toBe('index.handler');
    expect(properties.LoggingConfig).toEqual({
      LogFormat: 'JSON',
      LogGroup: { Ref: logicalIdOf(fn.logGroup) },
    });
    expect(properties.TracingConfig).toEqual({ Mode: 'Active' });
    expect(properties.Environment).toMatchObject({ Variables: { NODE_OPTIONS: '--enable-source-maps' } });
  });

  it.each(modelFunctions)('model function %s memory and layer', (_modelType, fn) => {
    const properties = functionProperties(fn);

    expect(properties.MemorySize).toBe(3008);
    expect(properties.Timeout).toBe(60);
    expect(properties.Layers).toEqual([{ Ref: logicalIdOf(stack.runtimeLayer.layerVersion) }]);
    expect(properties.Environment).toMatchObject({
      Variables: {
        MODEL_DIR: '/opt/models',
        BUCKET_NAME: { Ref: logicalIdOf(stack.storage.bucket) },
        TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
      },
    });
  });

  it('api function memory, timeout and env', () => {
    const properties = functionProperties(stack.api.apiFunction);

    expect(properties.MemorySize).toBe(3008);
    expect(properties.Timeout).toBe(30);
    expect(properties.Layers).toEqual([{ Ref: logicalIdOf(stack.runtimeLayer.layerVersion) }]);
    expect(properties.Environment).toMatchObject({
      Variables: {
        TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
        BUCKET_NAME: { Ref: logicalIdOf(stack.storage.bucket) },
        UPLOADS_PREFIX: 'uploads/',
        MODEL_DIR: '/opt/models',
      },
    });
  });

  it('ingest function env', () => {
    const properties = functionProperties(stack.ingest.ingestFunction);

    expect(properties.Layers).toBeUndefined();
    expect(properties.Environment).toMatchObject({
      Variables: {
        TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
        UPLOADS_PREFIX: 'uploads/',
        DEFAULT_WORKFLOW_ARN: { Ref: logicalIdOf(stack.defaultWorkflow.stateMachine) },
      },
    });
  });
});

describe('storage', () => {
  it('bucket is private, encrypted and versioned', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  it('bucket policy denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalIdOf(stack.storage.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('table keys, billing and recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });
});

describe('bucket notification', () => {
  it('sends uploads/ ObjectCreated events to ingest', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: logicalIdOf(stack.storage.bucket) },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [logicalIdOf(stack.ingest.ingestFunction), 'Arn'] },
          },
        ],
      },
    });
  });

  it('lets S3 invoke ingest', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [logicalIdOf(stack.ingest.ingestFunction), 'Arn'] },
      Principal: 's3.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.storage.bucket), 'Arn'] },
    });
  });
});

describe('default workflow', () => {
  const resources = template.toJSON().Resources as Record<string, { Properties: Record<string, any> }>;
  const stateMachine = resources[logicalIdOf(stack.defaultWorkflow.stateMachine)] as { Properties: Record<string, any> };
  const resultsStateMachine = resources[logicalIdOf(stack.defaultWorkflow.resultsStateMachine)] as { Properties: Record<string, any> };
  const definition = resolveDefinition(stateMachine.Properties.DefinitionString) as { States: Record<string, Record<string, any>> };
  const states = definition.States;
  const branches = (states['level 1']?.Branches ?? []) as Array<{ StartAt: string; States: Record<string, Record<string, any>> }>;
  const modelTasks = branches.map((branch) => branch.States[branch.StartAt] as Record<string, any>);

  it('ingest machine is standard, traced and logged', () => {
    expect(stateMachine.Properties.StateMachineType).toBe('STANDARD');
    expect(stateMachine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(stateMachine.Properties.RoleArn).toEqual({ 'Fn::GetAtt': [logicalIdOf(stack.workflowEngine.workflowRole), 'Arn'] });
    expect(stateMachine.Properties.LoggingConfiguration).toMatchObject({
      Level: 'ERROR',
      IncludeExecutionData: true,
      Destinations: [
        {
          CloudWatchLogsLogGroup: {
            LogGroupArn: { 'Fn::GetAtt': [logicalIdOf(stack.workflowEngine.logGroup), 'Arn'] },
          },
        },
      ],
    });
  });

  it('results machine is express with the same definition', () => {
    expect(resultsStateMachine.Properties.StateMachineType).toBe('EXPRESS');
    expect(resultsStateMachine.Properties.RoleArn).toEqual(stateMachine.Properties.RoleArn);
    expect(resolveDefinition(resultsStateMachine.Properties.DefinitionString)).toEqual(definition);
  });

  it('model tasks call model functions', () => {
    expect(modelTasks.map((task) => [task.Parameters.node.id, task.Resource])).toEqual([
      ['object-detection', placeholderArn(logicalIdOf(stack.modelFunctions.visualDetector))],
      ['image-embedding', placeholderArn(logicalIdOf(stack.modelFunctions.visualEmbedder))],
      ['text-detection', placeholderArn(logicalIdOf(stack.modelFunctions.visualDetector))],
      ['text-orientation', placeholderArn(logicalIdOf(stack.modelFunctions.visualClassifier))],
    ]);
  });

  it('model versions match the runtime', async () => {
    for (const task of modelTasks) {
      const model = task.Parameters.node.model as { id: string; model_version: { id: string } };
      expect(model.model_version.id).toMatch(/^[0-9a-f]{32}$/);
      expect(model.model_version.id).toBe(stack.runtimeLayer.modelVersionId(model.id));
      expect(model.model_version.id).toBe(await modelVersionId(model.id));
    }
  });

  it('stores annotations and records failures', () => {
    expect(states['Write annotations']?.Resource).toBe(placeholderArn(logicalIdOf(stack.workflowEngine.writeAnnotationsFunction)));
    expect(states['Record failure']?.Resource).toBe(placeholderArn(logicalIdOf(stack.workflowEngine.recordFailureFunction)));
    expect(states['Record failure']?.Parameters.workflow_id).toBe('default');
    expect(states['level 1']?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: 'level 1 failed' }]);
  });

  it('definition passes asl-validator', () => {
    const result = aslValidator(definition, { checkArn: true, checkPaths: true });

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('api runs only the results machine synchronously', () => {
    const variables = (functionProperties(stack.api.apiFunction).Environment as { Variables: Record<string, unknown> }).Variables;
    const statements = statementsOf(template, logicalIdOf(stack.api.apiFunction)).filter((statement) =>
      JSON.stringify(statement.Resource).includes(logicalIdOf(stack.defaultWorkflow.resultsStateMachine)),
    );

    expect(variables.DEFAULT_WORKFLOW_RESULTS_ARN).toEqual({ Ref: logicalIdOf(stack.defaultWorkflow.resultsStateMachine) });
    expect(actionsOf(statements)).toEqual(['states:StartSyncExecution']);
    expect(JSON.stringify(statementsOf(template, logicalIdOf(stack.api.apiFunction)))).not.toContain(
      logicalIdOf(stack.defaultWorkflow.stateMachine),
    );
  });
});

describe('iam', () => {
  it('ingest starts the default and workflow state machines', () => {
    const statements = statementsOf(template, logicalIdOf(stack.ingest.ingestFunction));
    const statesStatements = statements.filter((statement) =>
      actionsOf([statement]).some((action) => action.startsWith('states:')),
    );

    expect(new Set(actionsOf(statesStatements))).toEqual(new Set(['states:StartExecution']));
    const resources = statesStatements.flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]));
    expect(resources.map((resource) => JSON.stringify(resource)).sort()).toEqual([
      expect.stringContaining(':stateMachine:Percept-wf-*'),
      JSON.stringify({ Ref: logicalIdOf(stack.defaultWorkflow.stateMachine) }),
    ]);
    expect(actionsOf(statements).filter((action) => action.startsWith('s3:'))).toEqual([]);
  });

  it('authorizer only reads the table', () => {
    const statements = statementsOf(template, logicalIdOf(stack.api.authorizerFunction));
    const actions = actionsOf(statements);
    const dynamodbActions = actions.filter((action) => action.startsWith('dynamodb:'));

    expect(dynamodbActions.length).toBeGreaterThan(0);
    for (const action of dynamodbActions) {
      expect(action).toMatch(/^dynamodb:(BatchGet|Get|Query|Scan|ConditionCheck|DescribeTable)/);
    }
    expect(actions.filter((action) => !action.startsWith('dynamodb:') && !action.startsWith('xray:'))).toEqual([]);
  });

  it.each(modelFunctions)('model function %s writes only derived objects', (_modelType, fn) => {
    const statements = statementsOf(template, logicalIdOf(fn));
    const writing = statements.filter((statement) => actionsOf([statement]).some((action) => /^s3:(Put|Delete|Abort)/.test(action)));
    const reading = statements.filter((statement) => actionsOf([statement]).some((action) => action.startsWith('s3:Get')));

    expect(s3ObjectResources(writing).length).toBeGreaterThan(0);
    for (const resource of s3ObjectResources(writing)) {
      expect(resource).toMatch(/"\/derived\/\*"/);
    }
    for (const prefix of ['uploads', 'models', 'workflow-runs', 'derived']) {
      expect(s3ObjectResources(reading).some((resource) => resource.includes(`"/${prefix}/*"`))).toBe(true);
    }
    expect(actionsOf(statements).filter((action) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(action))).toEqual(
      [],
    );
  });

  it('api writes only uploads, models, training data and results runs', () => {
    const statements = statementsOf(template, logicalIdOf(stack.api.apiFunction));
    const writing = statements.filter((statement) => actionsOf([statement]).some((action) => /^s3:(Put|Delete)/.test(action)));

    expect(actionsOf(writing)).toEqual(expect.arrayContaining(['s3:PutObject', 's3:DeleteObject*']));
    const objectResources = s3ObjectResources(writing);
    expect(objectResources.length).toBeGreaterThan(0);
    for (const resource of objectResources) {
      expect(resource).toMatch(/"\/(uploads|models|training|workflow-runs|derived\/workflow-runs)\/\*"/);
    }
    expect(objectResources.some((resource) => resource.includes('"/models/*"'))).toBe(true);
  });
});

describe('workflow engine', () => {
  const engine = stack.workflowEngine;
  const roleId = logicalIdOf(engine.workflowRole);
  const prefixPattern = ':stateMachine:Percept-wf-*';

  it('operators function layer, memory and env', () => {
    const properties = functionProperties(engine.operatorsFunction);

    expect(properties.MemorySize).toBe(1024);
    expect(properties.Timeout).toBe(60);
    expect(properties.Layers).toEqual([{ Ref: logicalIdOf(stack.runtimeLayer.layerVersion) }]);
    expect(properties.Environment).toMatchObject({
      Variables: {
        TABLE_NAME: { Ref: logicalIdOf(stack.storage.table) },
        BUCKET_NAME: { Ref: logicalIdOf(stack.storage.bucket) },
        EVENT_BUS_NAME: { Ref: logicalIdOf(engine.eventBus) },
      },
    });
  });

  it('operators write only derived objects', () => {
    const statements = statementsOf(template, logicalIdOf(engine.operatorsFunction));
    const writing = statements.filter((statement) => actionsOf([statement]).some((action) => /^s3:(Put|Delete)/.test(action)));

    expect(s3ObjectResources(writing).length).toBeGreaterThan(0);
    for (const resource of s3ObjectResources(writing)) {
      expect(resource).toMatch(/"\/derived\/\*"/);
    }
  });

  it('workflow role is for Step Functions', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Action: 'sts:AssumeRole', Principal: { Service: 'states.amazonaws.com' } })],
      },
    });
    const role = template.toJSON().Resources[roleId] as { Properties: { AssumeRolePolicyDocument: unknown } };
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain('states.amazonaws.com');
  });

  it('workflow role invokes exactly the workflow functions', () => {
    const invoke = statementsOfRole(template, roleId).filter((statement) =>
      actionsOf([statement]).some((action) => action.startsWith('lambda:')),
    );
    const expected = [
      ...modelFunctions.map(([, fn]) => fn),
      engine.operatorsFunction,
      stack.workflowEngine.writeAnnotationsFunction,
      stack.workflowEngine.recordFailureFunction,
    ].map(logicalIdOf);

    expect(actionsOf(invoke).every((action) => action === 'lambda:InvokeFunction')).toBe(true);
    expect(new Set(getAttIds(invoke.map((statement) => statement.Resource)))).toEqual(new Set(expected));
  });

  it('api manages only prefixed state machines', () => {
    const statements = statementsOf(template, logicalIdOf(stack.api.apiFunction));
    // The built-in results state machine has its own statement, checked under "default workflow".
    const resultsMachine = logicalIdOf(stack.defaultWorkflow.resultsStateMachine);
    const statesStatements = statements.filter(
      (statement) =>
        actionsOf([statement]).some((action) => action.startsWith('states:')) &&
        !JSON.stringify(statement.Resource).includes(resultsMachine),
    );

    expect(actionsOf(statesStatements).sort()).toEqual([
      'states:CreateStateMachine',
      'states:DeleteStateMachine',
      'states:DescribeStateMachine',
      'states:StartExecution',
      'states:StartSyncExecution',
      'states:TagResource',
    ]);
    for (const statement of statesStatements) {
      expect(JSON.stringify(statement.Resource)).toContain(prefixPattern);
    }
  });

  it('api passes only the workflow role to step functions', () => {
    const statements = statementsOf(template, logicalIdOf(stack.api.apiFunction));
    const passRole = statements.filter(
      (statement) =>
        actionsOf([statement]).includes('iam:PassRole') &&
        JSON.stringify(statement.Condition ?? {}).includes('states.amazonaws.com'),
    );

    expect(passRole).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [roleId, 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' } },
      }),
    ]);
  });

  it('api env names the engine', () => {
    const variables = (functionProperties(stack.api.apiFunction).Environment as { Variables: Record<string, unknown> }).Variables;

    expect(variables.WORKFLOW_ROLE_ARN).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(variables.WORKFLOW_NAME_PREFIX).toBe('Percept-wf-');
    expect(variables.WORKFLOW_LOG_GROUP_ARN).toEqual({ 'Fn::GetAtt': [logicalIdOf(engine.logGroup), 'Arn'] });
    const functionArns = JSON.stringify(variables.WORKFLOW_FUNCTION_ARNS);
    for (const fn of [engine.operatorsFunction, stack.workflowEngine.writeAnnotationsFunction, ...modelFunctions.map(([, f]) => f)]) {
      expect(functionArns).toContain(logicalIdOf(fn));
    }
  });

  it.each([
    ['write annotations', stack.workflowEngine.writeAnnotationsFunction],
    ['record failure', stack.workflowEngine.recordFailureFunction],
    ['operators', engine.operatorsFunction],
  ])('%s puts events on the bus', (_name, fn) => {
    const statements = statementsOf(template, logicalIdOf(fn));
    const putEvents = statements.filter((statement) => actionsOf([statement]).includes('events:PutEvents'));

    expect(putEvents.map((statement) => statement.Resource)).toEqual([{ 'Fn::GetAtt': [logicalIdOf(engine.eventBus), 'Arn'] }]);
    expect(functionProperties(fn).Environment).toMatchObject({ Variables: { EVENT_BUS_NAME: { Ref: logicalIdOf(engine.eventBus) } } });
  });

  it('results run objects expire', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'workflow-runs/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'derived/workflow-runs/', ExpirationInDays: 1, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('no external uploads rule by default', () => {
    expect(stack.ingest.externalUploadsRule).toBeUndefined();
    const s3Rules = template.findResources('AWS::Events::Rule', {
      Properties: { EventPattern: Match.objectLike({ source: ['aws.s3'] }) },
    });
    expect(Object.keys(s3Rules)).toEqual([]);
  });
});

describe('http api', () => {
  const authorizerId = Object.keys(template.findResources('AWS::ApiGatewayV2::Authorizer'))[0];

  it('authorizer settings', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      AuthorizerResultTtlInSeconds: 0,
    });
    const [authorizer] = Object.values(template.findResources('AWS::ApiGatewayV2::Authorizer'));
    expect((authorizer?.Properties as { IdentitySource?: string[] }).IdentitySource ?? []).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::ApiGatewayV2::Authorizer'))).toContain(
      logicalIdOf(stack.api.authorizerFunction),
    );
  });

  it.each([...API_ROUTES.map((route) => `${route.method} ${route.path}`), '$default'])('route %s is authorized', (routeKey) => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: routeKey,
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
    });
  });

  it('routes go to the api function', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');

    expect(routes.map((route) => (route.Properties as { RouteKey: string }).RouteKey).sort()).toEqual(
      [...API_ROUTES.map((route) => `${route.method} ${route.path}`), '$default'].sort(),
    );
    expect(Object.values(integrations)).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({
          IntegrationType: 'AWS_PROXY',
          PayloadFormatVersion: '2.0',
          IntegrationUri: { 'Fn::GetAtt': [logicalIdOf(stack.api.apiFunction), 'Arn'] },
        }),
      }),
    ]);
  });

  it('cors is off', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.absent(),
    });
  });

  it('stage writes access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalIdOf(stack.api.accessLogGroup), 'Arn'] },
        Format: Match.stringLikeRegexp('requestId'),
      },
    });
  });
});

describe('outputs', () => {
  it('api url, bucket and table', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(outputs.BucketName?.Value).toEqual({ Ref: logicalIdOf(stack.storage.bucket) });
    expect(outputs.TableName?.Value).toEqual({ Ref: logicalIdOf(stack.storage.table) });
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain(logicalIdOf(stack.api.httpApi));
  });
});
