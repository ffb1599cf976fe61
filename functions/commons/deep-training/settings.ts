/**
 * Settings of deep training and serving, read from the environment that the CDK construct
 * `DeepModels` sets on AWS and the local stack sets locally. SageMaker resource names
 * share one prefix so that IAM policies can be scoped to `<prefix>-*`.
 */

export const DEFAULT_RESOURCE_PREFIX = 'percept';
export const DEFAULT_TRAINING_INSTANCE_TYPE = 'ml.g5.xlarge';
export const DEFAULT_SERVING_INSTANCE_TYPE = 'ml.g5.xlarge';
/** Maximum run time of a training job before SageMaker stops it, in seconds (4 hours). */
export const DEFAULT_MAX_TRAINING_SECONDS = 4 * 3600;
export const DEFAULT_TRAINING_VOLUME_GB = 30;
/** Maximum number of copies of one version that auto scaling may run (each copy takes one GPU). */
export const DEFAULT_MAX_COPIES = 2;
/**
 * Target of the target-tracking policy: invocations per copy per minute. NOTE: an estimate,
 * not a measurement; tune it with a load test of the deployed model.
 */
export const DEFAULT_TARGET_INVOCATIONS_PER_COPY = 600;
/** The endpoint variant that hosts every inference component. */
export const VARIANT_NAME = 'AllTraffic';

/** EventBridge's detail type of SageMaker training job status events. */
export const TRAINING_JOB_STATE_CHANGE = 'SageMaker Training Job State Change';

/** Key prefix of training datasets and job outputs in the Percept bucket. */
export const TRAINING_PREFIX = 'training/';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `Environment variable ${name} is missing, so deep training cannot run. Deploy the DeepModels construct (lib/constructs/deep-models.ts) or start the local stack, which set it.`,
    );
  }
  return value;
}

function positiveIntegerEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive whole number, got ${JSON.stringify(raw)}.`);
  }
  return value;
}

export const deepTrainingSettings = {
  /** Prefix of every SageMaker name Percept creates: training jobs, models, inference components. */
  get resourcePrefix(): string {
    return process.env.DEEP_RESOURCE_PREFIX ?? DEFAULT_RESOURCE_PREFIX;
  },
  /** Role that training jobs run with. */
  get trainingRoleArn(): string {
    return requireEnv('TRAINING_ROLE_ARN');
  },
  /** The PyTorch training image (AWS Deep Learning Container) that runs the script. */
  get trainingImageUri(): string {
    return requireEnv('TRAINING_IMAGE_URI');
  },
  /** `s3://` URI of the tar.gz of `sagemaker/training`, SageMaker's `sagemaker_submit_directory`. */
  get trainingSourceUri(): string {
    return requireEnv('TRAINING_SOURCE_URI');
  },
  get trainingInstanceType(): string {
    return process.env.TRAINING_INSTANCE_TYPE ?? DEFAULT_TRAINING_INSTANCE_TYPE;
  },
  get maxTrainingSeconds(): number {
    return positiveIntegerEnv('TRAINING_MAX_SECONDS', DEFAULT_MAX_TRAINING_SECONDS);
  },
  /** The endpoint that hosts one inference component per deployed version. */
  get endpointName(): string {
    return requireEnv('DEEP_MODELS_ENDPOINT_NAME');
  },
  /** Role that SageMaker models (the serving containers) run with. */
  get executionRoleArn(): string {
    return requireEnv('DEEP_MODELS_EXECUTION_ROLE_ARN');
  },
  /** The serving container image (sagemaker/serving/Dockerfile). */
  get servingImageUri(): string {
    return requireEnv('SERVING_IMAGE_URI');
  },
  get maxCopies(): number {
    return positiveIntegerEnv('DEEP_MODELS_MAX_COPIES', DEFAULT_MAX_COPIES);
  },
  get targetInvocationsPerCopy(): number {
    return positiveIntegerEnv('DEEP_MODELS_TARGET_INVOCATIONS', DEFAULT_TARGET_INVOCATIONS_PER_COPY);
  },
};

/** Name of the training job, SageMaker model and inference component of a version (at most 63 characters). */
export function versionResourceName(versionId: string, prefix = deepTrainingSettings.resourcePrefix): string {
  return `${prefix}-${versionId}`;
}

/**
 * Returns the EventBridge pattern of the status events of Percept's training jobs, which the
 * CDK rule and the local EventBridge rule both use.
 */
export function trainingJobStatePattern(prefix: string): Record<string, unknown> {
  return {
    source: ['aws.sagemaker'],
    'detail-type': [TRAINING_JOB_STATE_CHANGE],
    detail: { TrainingJobName: [{ prefix: `${prefix}-` }] },
  };
}
