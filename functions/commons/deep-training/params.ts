/**
 * Deep-training templates and the checks of their parameters. A template fixes the
 * network and the defaults of every hyperparameter. `model.train_info.params` (Clarifai's
 * field) names the template and may override the defaults. A version's
 * `model_versions[0].train_info.params` may override them again for one training run.
 * The names are those of the training script's command-line flags (sagemaker/training/train.py).
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';

export const AUGMENTATIONS = ['none', 'light', 'strong'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** Classifier networks that the training script can build (its `--backbone` choices for visual-classifier). */
export const BACKBONES = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v3_small', 'mobilenet_v3_large', 'efficientnet_b0'] as const;

/** Detector networks that the training script can build (its `--backbone` choices for visual-detector). */
export const DETECTOR_BACKBONES = ['ssdlite320_mobilenet_v3_large'] as const;

/** Model types that deep training can produce. */
export const DEEP_TRAINABLE_TYPES = ['visual-classifier', 'visual-detector'] as const;
export type DeepTrainableType = (typeof DEEP_TRAINABLE_TYPES)[number];

const BACKBONES_BY_TYPE: Record<DeepTrainableType, readonly string[]> = {
  'visual-classifier': BACKBONES,
  'visual-detector': DETECTOR_BACKBONES,
};

/** The hyperparameters of one training run, all resolved. */
export interface DeepTrainingParams {
  template: string;
  backbone: string;
  /** Side of the square network input, in pixels. */
  image_size: number;
  epochs: number;
  learning_rate: number;
  batch_size: number;
  augmentation: Augmentation;
  /** Share of the labelled inputs held out for the metrics, above 0 and at most 0.5. */
  holdout_fraction: number;
  seed: number;
  /**
   * Starts from torchvision's ImageNet weights, which the script downloads. A job without
   * internet access (the local stand-in, or SageMaker with network isolation) fails with true.
   */
  pretrained: boolean;
}

export interface DeepTrainingTemplate {
  id: string;
  description: string;
  model_type_id: DeepTrainableType;
  defaults: Omit<DeepTrainingParams, 'template'>;
}

const CLASSIFIER_DEFAULTS = {
  image_size: 224,
  epochs: 20,
  learning_rate: 0.001,
  batch_size: 32,
  augmentation: 'light',
  holdout_fraction: 0.2,
  seed: 0,
  pretrained: false,
} as const;

export const DEEP_TRAINING_TEMPLATES: readonly DeepTrainingTemplate[] = [
  {
    id: 'classification-resnet18',
    description: 'ResNet-18 image classifier (11.7 M parameters in torchvision\'s ImageNet version).',
    model_type_id: 'visual-classifier',
    defaults: { ...CLASSIFIER_DEFAULTS, backbone: 'resnet18' },
  },
  {
    id: 'classification-mobilenet-v3-small',
    description: 'MobileNetV3-Small image classifier (2.5 M parameters in torchvision\'s ImageNet version), for small datasets and fast inference.',
    model_type_id: 'visual-classifier',
    defaults: { ...CLASSIFIER_DEFAULTS, backbone: 'mobilenet_v3_small' },
  },
  {
    id: 'detection-ssdlite-mobilenet-v3',
    description: 'SSDlite object detector on a MobileNetV3-Large backbone (torchvision\'s ssdlite320_mobilenet_v3_large, 3.4 M parameters for the 91 COCO classes), trained on labelled boxes.',
    model_type_id: 'visual-detector',
    // 320 pixels is the input size that torchvision's SSDlite was designed for.
    defaults: { ...CLASSIFIER_DEFAULTS, image_size: 320, backbone: 'ssdlite320_mobilenet_v3_large' },
  },
];

/** Request keys accepted in `train_info.params`. `num_epochs` is Clarifai's name of `epochs`. */
const PARAM_KEYS = [
  'template',
  'backbone',
  'image_size',
  'epochs',
  'num_epochs',
  'learning_rate',
  'batch_size',
  'augmentation',
  'holdout_fraction',
  'seed',
  'pretrained',
] as const;

interface NumberRule {
  integer: boolean;
  /** Smallest allowed value, itself excluded when `exclusiveMin` is set. */
  min: number;
  max: number;
  exclusiveMin?: boolean;
}

const NUMBER_RULES: Record<'image_size' | 'epochs' | 'learning_rate' | 'batch_size' | 'holdout_fraction' | 'seed', NumberRule> = {
  image_size: { integer: true, min: 32, max: 1024 },
  epochs: { integer: true, min: 1, max: 1000 },
  learning_rate: { integer: false, min: 0, max: 1, exclusiveMin: true },
  batch_size: { integer: true, min: 1, max: 1024 },
  holdout_fraction: { integer: false, min: 0, max: 0.5, exclusiveMin: true },
  seed: { integer: true, min: 0, max: 2 ** 31 - 1 },
};

function invalid(code: string, message: string): InvalidInputError {
  return new InvalidInputError(code, message, StatusCode.MODEL_INVALID_ARGUMENT);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the template with id `templateId`, or throws `INVALID_TRAINING_TEMPLATE` listing the templates. */
export function findTemplate(templateId: unknown, field: string): DeepTrainingTemplate {
  const template = DEEP_TRAINING_TEMPLATES.find((candidate) => candidate.id === templateId);
  if (template === undefined) {
    throw invalid(
      'INVALID_TRAINING_TEMPLATE',
      `${field} ${JSON.stringify(templateId)} is not a deep-training template. Use one of ${DEEP_TRAINING_TEMPLATES.map((candidate) => candidate.id).join(', ')}.`,
    );
  }
  return template;
}

/**
 * Returns the resolved hyperparameters of `raw` (a `train_info.params` object, `field`
 * names it in errors). Without `base`, `raw.template` is required and its defaults fill
 * the rest. With `base` (a model's stored parameters), `raw` overrides them, and a
 * `template` in `raw` starts again from that template's defaults. Throws a 400 naming the
 * field for an unknown key, template or backbone and for a number out of range.
 */
export function resolveTrainingParams(raw: unknown, field: string, base?: DeepTrainingParams): DeepTrainingParams {
  if (!isObject(raw)) {
    throw invalid('INVALID_TRAINING_PARAMETER', `${field} must be an object, got ${JSON.stringify(raw)}. Send e.g. {"template": "${DEEP_TRAINING_TEMPLATES[0]?.id}", "epochs": 10}.`);
  }
  const unknownKeys = Object.keys(raw).filter((key) => !(PARAM_KEYS as readonly string[]).includes(key));
  if (unknownKeys.length > 0) {
    throw invalid(
      'INVALID_TRAINING_PARAMETER',
      `${field} has unknown keys ${unknownKeys.map((key) => JSON.stringify(key)).join(', ')}. Deep training takes ${PARAM_KEYS.join(', ')}.`,
    );
  }
  if (raw.epochs !== undefined && raw.num_epochs !== undefined && raw.epochs !== raw.num_epochs) {
    throw invalid(
      'INVALID_TRAINING_PARAMETER',
      `${field}.epochs (${JSON.stringify(raw.epochs)}) and ${field}.num_epochs (${JSON.stringify(raw.num_epochs)}) differ. Send one of them.`,
    );
  }

  let resolved: DeepTrainingParams;
  let template: DeepTrainingTemplate;
  if (raw.template !== undefined || base === undefined) {
    if (raw.template === undefined) {
      throw invalid(
        'INVALID_TRAINING_TEMPLATE',
        `${field}.template is missing. Name a deep-training template: ${DEEP_TRAINING_TEMPLATES.map((candidate) => candidate.id).join(', ')}.`,
      );
    }
    template = findTemplate(raw.template, `${field}.template`);
    const baseType = base === undefined ? undefined : findTemplate(base.template, 'the model\'s template').model_type_id;
    if (baseType !== undefined && template.model_type_id !== baseType) {
      throw invalid(
        'INVALID_TRAINING_TEMPLATE',
        `${field}.template ${template.id} trains a ${template.model_type_id}, but this model is a ${baseType}. Choose a template of the model's type.`,
      );
    }
    resolved = { template: template.id, ...template.defaults };
  } else {
    template = findTemplate(base.template, 'the model\'s template');
    resolved = { ...base };
  }

  if (raw.backbone !== undefined) {
    const backbones = BACKBONES_BY_TYPE[template.model_type_id];
    if (typeof raw.backbone !== 'string' || !backbones.includes(raw.backbone)) {
      throw invalid(
        'INVALID_BACKBONE',
        `${field}.backbone ${JSON.stringify(raw.backbone)} is not a supported network. Use one of ${backbones.join(', ')} for a ${template.model_type_id}.`,
      );
    }
    resolved.backbone = raw.backbone;
  }
  const epochs = raw.epochs ?? raw.num_epochs;
  const numbers: Record<string, unknown> = { ...raw, epochs };
  for (const [key, rule] of Object.entries(NUMBER_RULES) as Array<[keyof typeof NUMBER_RULES, NumberRule]>) {
    const value = numbers[key];
    if (value !== undefined) {
      resolved[key] = checkNumber(value, rule, key === 'epochs' && raw.epochs === undefined ? `${field}.num_epochs` : `${field}.${key}`);
    }
  }
  if (raw.augmentation !== undefined) {
    if (!(AUGMENTATIONS as readonly unknown[]).includes(raw.augmentation)) {
      throw invalid('INVALID_TRAINING_PARAMETER', `${field}.augmentation ${JSON.stringify(raw.augmentation)} is not one of ${AUGMENTATIONS.join(', ')}.`);
    }
    resolved.augmentation = raw.augmentation as Augmentation;
  }
  if (raw.pretrained !== undefined) {
    if (typeof raw.pretrained !== 'boolean') {
      throw invalid('INVALID_TRAINING_PARAMETER', `${field}.pretrained must be true or false, got ${JSON.stringify(raw.pretrained)}.`);
    }
    resolved.pretrained = raw.pretrained;
  }
  return resolved;
}

function checkNumber(value: unknown, rule: NumberRule, field: string): number {
  const kind = rule.integer ? 'a whole number' : 'a number';
  const lower = rule.exclusiveMin === true ? `above ${rule.min}` : `from ${rule.min}`;
  const range = `${lower} ${rule.exclusiveMin === true ? 'and at most' : 'to'} ${rule.max}`;
  const belowMin = typeof value === 'number' && (rule.exclusiveMin === true ? value <= rule.min : value < rule.min);
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (rule.integer && !Number.isInteger(value)) ||
    belowMin ||
    value > rule.max
  ) {
    throw invalid('INVALID_TRAINING_PARAMETER', `${field} must be ${kind} ${range}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/**
 * Returns the hyperparameters as SageMaker's `HyperParameters`: string values, JSON-encoded
 * as the SageMaker Python SDK sends them (the training toolkit decodes each value and passes
 * it to the script as `--key value`). `template` is Percept's and not a flag of the script.
 */
export function toHyperParameters(params: DeepTrainingParams, modelTypeId: string): Record<string, string> {
  const { template: _template, ...flags } = params;
  const values: Record<string, unknown> = { model_type: modelTypeId, ...flags };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, JSON.stringify(value)]));
}
