/**
 * Synthesizes the Percept stack the way `cdk synth` does: same feature flags (the
 * context in cdk.json), local esbuild bundling and the layer built from `.cache/models`.
 */
import { App, type CfnResource, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/project.ts';
import { PerceptStack, type PerceptStackProps } from '../../lib/percept-stack.ts';

export interface SynthesizedPercept {
  stack: PerceptStack;
  template: Template;
  assembly: CloudAssembly;
  /** Removes the temporary cloud assembly folder. */
  cleanUp: () => void;
}

/** Context of cdk.json: the feature flags that `cdk synth` passes to the app. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * Synthesizes the stack into a temporary folder. Without `bundling`, asset bundling is
 * skipped (`aws:cdk:bundling-stacks` is empty) and the assets are placeholders.
 */
export function synthesizePercept(options: {
  bundling: boolean;
  props?: PerceptStackProps;
  /** Adds constructs to the stack before it is synthesized. */
  extend?: (stack: PerceptStack) => void;
}): SynthesizedPercept {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'percept-cdk-test-'));
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  if (!options.bundling) {
    context['aws:cdk:bundling-stacks'] = [];
  }

  const app = new App({ outdir, context });
  const stack = new PerceptStack(app, 'Percept', options.props);
  options.extend?.(stack);
  const template = Template.fromStack(stack);
  // Returns the assembly that Template.fromStack just synthesized.
  const assembly = app.synth();

  return { stack, template, assembly, cleanUp: () => fs.rmSync(outdir, { recursive: true, force: true }) };
}

/** Logical id of a construct's CloudFormation resource, as the template names it. */
export function logicalIdOf(construct: IConstruct): string {
  const resource = construct.node.defaultChild as CfnResource;
  return Stack.of(resource).getLogicalId(resource);
}
