/**
 * Deep-training parameters: templates, overrides and range checks, and their hyperparameter
 * encoding as the training script (sagemaker/training/train.py) parses it.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PerceptError } from '#commons/errors.ts';
import { BACKBONES, DEEP_TRAINING_TEMPLATES, resolveTrainingParams, toHyperParameters } from '#commons/deep-training/params.ts';
import { decodeHyperParameters, toCommandLine } from '../../local/sagemaker.ts';

const FIELD = 'model.train_info.params';

function rejection(raw: unknown, base?: Parameters<typeof resolveTrainingParams>[2]): PerceptError {
  try {
    resolveTrainingParams(raw, FIELD, base);
  } catch (error) {
    if (error instanceof PerceptError) {
      return error;
    }
    throw error;
  }
  throw new Error(`${JSON.stringify(raw)} was accepted`);
}

describe('training params', () => {
  it('template fills the defaults', () => {
    const params = resolveTrainingParams({ template: 'classification-resnet18' }, FIELD);

    expect(params).toEqual({
      template: 'classification-resnet18',
      backbone: 'resnet18',
      image_size: 224,
      epochs: 20,
      learning_rate: 0.001,
      batch_size: 32,
      augmentation: 'light',
      holdout_fraction: 0.2,
      seed: 0,
      pretrained: false,
    });
  });

  it('overrides replace defaults', () => {
    const params = resolveTrainingParams(
      { template: 'classification-mobilenet-v3-small', backbone: 'efficientnet_b0', num_epochs: 5, augmentation: 'strong', pretrained: true },
      FIELD,
    );

    expect(params).toMatchObject({ backbone: 'efficientnet_b0', epochs: 5, augmentation: 'strong', pretrained: true, image_size: 224 });
  });

  it('version overrides keep the base', () => {
    const base = resolveTrainingParams({ template: 'classification-resnet18', image_size: 96 }, FIELD);

    const params = resolveTrainingParams({ epochs: 2 }, 'model_versions[0].train_info.params', base);

    expect(params).toEqual({ ...base, epochs: 2 });
  });

  it('template override restarts from its defaults', () => {
    const base = resolveTrainingParams({ template: 'classification-resnet18', image_size: 96 }, FIELD);

    const params = resolveTrainingParams({ template: 'classification-mobilenet-v3-small' }, 'model_versions[0].train_info.params', base);

    expect(params.backbone).toBe('mobilenet_v3_small');
    expect(params.image_size).toBe(224);
  });

  it('rejects a missing template', () => {
    const error = rejection({ epochs: 3 });

    expect(error.code).toBe('INVALID_TRAINING_TEMPLATE');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toBe(
      `${FIELD}.template is missing. Name a deep-training template: ${DEEP_TRAINING_TEMPLATES.map((template) => template.id).join(', ')}.`,
    );
  });

  it('rejects unknown keys', () => {
    const error = rejection({ template: 'classification-resnet18', momentum: 0.9 });

    expect(error.code).toBe('INVALID_TRAINING_PARAMETER');
    expect(error.message).toContain(`${FIELD} has unknown keys "momentum".`);
  });

  it('rejects differing epochs and num_epochs', () => {
    const error = rejection({ template: 'classification-resnet18', epochs: 3, num_epochs: 4 });

    expect(error.code).toBe('INVALID_TRAINING_PARAMETER');
    expect(error.message).toBe(`${FIELD}.epochs (3) and ${FIELD}.num_epochs (4) differ. Send one of them.`);
  });

  it.each([
    ['image_size', 16, 'a whole number from 32 to 1024, got 16'],
    ['image_size', 64.5, 'a whole number from 32 to 1024, got 64.5'],
    ['epochs', 1001, 'a whole number from 1 to 1000, got 1001'],
    ['learning_rate', 0, 'a number above 0 and at most 1, got 0'],
    ['learning_rate', '0.1', 'a number above 0 and at most 1, got "0.1"'],
    ['batch_size', 0, 'a whole number from 1 to 1024, got 0'],
    ['holdout_fraction', 0.6, 'a number above 0 and at most 0.5, got 0.6'],
    ['seed', -1, 'a whole number from 0 to 2147483647, got -1'],
  ])('rejects %s %j', (key, value, expected) => {
    const error = rejection({ template: 'classification-resnet18', [key]: value });

    expect(error.code).toBe('INVALID_TRAINING_PARAMETER');
    expect(error.message).toBe(`${FIELD}.${key} must be ${expected}.`);
  });

  it('rejects a bad num_epochs by its name', () => {
    const error = rejection({ template: 'classification-resnet18', num_epochs: 0 });

    expect(error.message).toBe(`${FIELD}.num_epochs must be a whole number from 1 to 1000, got 0.`);
  });

  it('rejects an unknown augmentation', () => {
    const error = rejection({ template: 'classification-resnet18', augmentation: 'heavy' });

    expect(error.message).toBe(`${FIELD}.augmentation "heavy" is not one of none, light, strong.`);
  });

  it('rejects a string pretrained', () => {
    const error = rejection({ template: 'classification-resnet18', pretrained: 'yes' });

    expect(error.message).toBe(`${FIELD}.pretrained must be true or false, got "yes".`);
  });
});

describe('hyperparameters', () => {
  const params = resolveTrainingParams({ template: 'classification-resnet18', image_size: 64, learning_rate: 0.0005, pretrained: true }, FIELD);

  it('json-encodes every value', () => {
    const hyperParameters = toHyperParameters(params, 'visual-classifier');

    expect(hyperParameters).toEqual({
      model_type: '"visual-classifier"',
      backbone: '"resnet18"',
      image_size: '64',
      epochs: '20',
      learning_rate: '0.0005',
      batch_size: '32',
      augmentation: '"light"',
      holdout_fraction: '0.2',
      seed: '0',
      pretrained: 'true',
    });
  });

  it('command line as the toolkit builds it', () => {
    const args = toCommandLine(decodeHyperParameters(toHyperParameters(params, 'visual-classifier')));

    expect(args).toEqual([
      '--augmentation', 'light',
      '--backbone', 'resnet18',
      '--batch_size', '32',
      '--epochs', '20',
      '--holdout_fraction', '0.2',
      '--image_size', '64',
      '--learning_rate', '0.0005',
      '--model_type', 'visual-classifier',
      '--pretrained', 'True',
      '--seed', '0',
    ]);
  });

  it('train.py parses the command line', () => {
    const args = toCommandLine(decodeHyperParameters(toHyperParameters(params, 'visual-classifier')));
    const script = [
      'import json, sys',
      "sys.path.insert(0, 'sagemaker/training')",
      'from dataclasses import asdict',
      'from percept_train.config import parse_hyperparameters',
      'print(json.dumps(asdict(parse_hyperparameters(sys.argv[1:]))))',
    ].join('\n');

    const parsed = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8' })) as Record<string, unknown>;

    expect(parsed).toMatchObject({
      model_type: 'visual-classifier',
      backbone: 'resnet18',
      image_size: 64,
      epochs: 20,
      learning_rate: 0.0005,
      batch_size: 32,
      augmentation: 'light',
      holdout_fraction: 0.2,
      seed: 0,
      pretrained: true,
    });
  });

  it('train.py builds every backbone', () => {
    const help = execFileSync('/usr/bin/python3', ['sagemaker/training/train.py', '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
    const classifiers = /Classifiers: ([^.]+)\./.exec(help)?.[1]?.split(', ');

    expect(classifiers).toEqual([...BACKBONES]);
  });
});
