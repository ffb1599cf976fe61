/**
 * CDK app entry. The stack is environment-agnostic (no account or region), so
 * `cdk synth` needs no AWS credentials; `cdk deploy` takes them from the CLI profile.
 */
import { App } from 'aws-cdk-lib';
import { PerceptStack } from '../lib/percept-stack.ts';

const app = new App();

new PerceptStack(app, 'Percept', {
  description: 'Percept: serverless computer-vision models and workflows with a Clarifai v2 compatible API',
});
