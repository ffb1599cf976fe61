import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Aws, BundlingOutput, CfnOutput, DockerImage, Duration, IgnoreMode, type ILocalBundling } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { CfnEndpoint, CfnEndpointConfig } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { writeTrainingSourceArchive } from '../../functions/commons/deep-training/source-archive.ts';
import {
  DEFAULT_MAX_COPIES,
  DEFAULT_MAX_TRAINING_SECONDS,
  DEFAULT_RESOURCE_PREFIX,
  DEFAULT_SERVING_INSTANCE_TYPE,
  DEFAULT_TRAINING_INSTANCE_TYPE,
  TRAINING_PREFIX,
  VARIANT_NAME,
  trainingJobStatePattern,
} from '../../functions/commons/deep-training/settings.ts';
import { PROJECT_ROOT } from '../project.ts';
import { PerceptFunction } from './percept-function.ts';
import type { Storage } from './storage.ts';

/** The error for props of `DeepModels` that cannot work. Its message lists every problem. */
export class DeepModelsPropsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeepModelsPropsError';
  }
}

/** Context keys that set the instance types without code changes (`cdk deploy -c percept:servingInstanceType=ml.g6.xlarge`). */
export const TRAINING_INSTANCE_CONTEXT_KEY = 'percept:trainingInstanceType';
export const SERVING_INSTANCE_CONTEXT_KEY = 'percept:servingInstanceType';

/** AWS's account of the Deep Learning Container images in most commercial regions. */
export const DLC_ACCOUNT = '763104351884';
/** The PyTorch training image tag (AWS Deep Learning Containers, SageMaker flavour). */
export const DLC_PYTORCH_TRAINING_TAG = '2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker';

const SERVING_FAMILIES = /^ml\.(g5|g6|g6e)\.[0-9]*x?large$/;
const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)[:@].+$/;

export interface DeepModelsProps {
  /** Bucket of the datasets, job outputs and input images, and table of the versions. */
  readonly storage: Storage;

  /**
   * Other buckets whose `uploads/` images training jobs may read.
   * @default - only the stack's own bucket
   */
  readonly externalUploadBuckets?: readonly string[];

  /**
   * Instance type of training jobs.
   * @default - the context value `percept:trainingInstanceType`, else `ml.g5.xlarge`
   */
  readonly trainingInstanceType?: string;

  /**
   * GPU instance type of the shared endpoint, of the ml.g5, ml.g6 or ml.g6e family.
   * @default - the context value `percept:servingInstanceType`, else `ml.g5.xlarge`
   */
  readonly servingInstanceType?: string;

  /**
   * Maximum number of instances that the endpoint's managed instance scaling may start.
   * @default 2
   */
  readonly maxInstances?: number;

  /**
   * Maximum number of copies of one version that auto scaling may run (one GPU each).
   * @default 2
   */
  readonly maxCopiesPerVersion?: number;

  /**
   * ECR URI of the PyTorch training image.
   * @default - the AWS Deep Learning Container `pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker` of the stack's region
   */
  readonly trainingImage?: string;

  /**
   * Maximum run time of a training job.
   * @default Duration.hours(4)
   */
  readonly maxTrainingTime?: Duration;

  /**
   * Prefix of the SageMaker names (training jobs, models, inference components, endpoint).
   * The IAM policies allow only names that start with `<prefix>-`.
   * @default 'percept'
   */
  readonly resourcePrefix?: string;

  /**
   * Retention period of the job-state function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * Deep training and serving on SageMaker. Training: a role for script-mode jobs of the
 * PyTorch training image, the training source archive (sagemaker/training as tar.gz) and the
 * EventBridge rule that sends the jobs' status events to the job-state function, which
 * records them and deploys trained versions. Serving: the serving image (built from
 * sagemaker/serving/Dockerfile when the stack is deployed), the models' execution role and
 * one endpoint on a GPU instance type whose managed instance scaling goes down to zero
 * instances. Each trained version becomes an inference component of that endpoint at run
 * time, because SageMaker scales to zero only for inference components.
 */
export class DeepModels extends Construct {
  /** Role that training jobs run with. */
  public readonly trainingRole: Role;
  /** Role that the serving containers (SageMaker models) run with. */
  public readonly executionRole: Role;
  /** tar.gz of sagemaker/training, SageMaker's `sagemaker_submit_directory`. */
  public readonly trainingSource: Asset;
  /** The serving container image. */
  public readonly servingImage: DockerImageAsset;
  /** The endpoint configuration of the shared endpoint. */
  public readonly endpointConfig: CfnEndpointConfig;
  /** The shared endpoint that hosts one inference component per deployed version. */
  public readonly endpoint: CfnEndpoint;
  /** Records training job status events and deploys trained versions. */
  public readonly jobStateFunction: PerceptFunction;
  /** Sends the status events of Percept's training jobs to `jobStateFunction`. */
  public readonly jobStateRule: Rule;
  public readonly endpointName: string;
  public readonly trainingInstanceType: string;
  public readonly servingInstanceType: string;
  public readonly trainingImage: string;

  private readonly props: DeepModelsProps;
  private readonly resourcePrefix: string;
  private readonly maxCopies: number;

  constructor(scope: Construct, id: string, props: DeepModelsProps) {
    super(scope, id);
    this.props = props;

    this.resourcePrefix = props.resourcePrefix ?? DEFAULT_RESOURCE_PREFIX;
    this.trainingInstanceType =
      props.trainingInstanceType ?? (this.node.tryGetContext(TRAINING_INSTANCE_CONTEXT_KEY) as string | undefined) ?? DEFAULT_TRAINING_INSTANCE_TYPE;
    this.servingInstanceType =
      props.servingInstanceType ?? (this.node.tryGetContext(SERVING_INSTANCE_CONTEXT_KEY) as string | undefined) ?? DEFAULT_SERVING_INSTANCE_TYPE;
    this.maxCopies = props.maxCopiesPerVersion ?? DEFAULT_MAX_COPIES;
    const maxInstances = props.maxInstances ?? 2;
    this.trainingImage = props.trainingImage ?? `${DLC_ACCOUNT}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}/pytorch-training:${DLC_PYTORCH_TRAINING_TAG}`;
    this.validate(maxInstances);
    this.endpointName = `${this.resourcePrefix}-deep-models`;

    const { bucket } = props.storage;

    // Training source: packed in-process, so synth needs no Docker.
    const sourceDir = path.join(PROJECT_ROOT, 'sagemaker', 'training');
    const packInProcess: ILocalBundling = {
      tryBundle(outputDir: string): boolean {
        writeTrainingSourceArchive(sourceDir, path.join(outputDir, 'sourcedir.tar.gz'));
        return true;
      },
    };
    this.trainingSource = new Asset(this, 'TrainingSource', {
      path: sourceDir,
      exclude: ['__pycache__', '*.pyc'],
      bundling: { image: DockerImage.fromRegistry('unused-local-bundling'), local: packInProcess, outputType: BundlingOutput.ARCHIVED },
    });

    // Serving image: `cdk synth` only stages the build context, and Docker builds it at deploy.
    this.servingImage = new DockerImageAsset(this, 'ServingImage', {
      directory: PROJECT_ROOT,
      file: 'sagemaker/serving/Dockerfile',
      platform: Platform.LINUX_AMD64,
      ignoreMode: IgnoreMode.DOCKER,
      exclude: servingContextExcludes(),
    });

    this.trainingRole = new Role(this, 'TrainingRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Runs Percept deep-training jobs: reads datasets and images, writes model.tar.gz.',
    });
    this.trainingRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          bucket.arnForObjects(`${TRAINING_PREFIX}*/dataset/*`),
          bucket.arnForObjects(`${TRAINING_PREFIX}*/manifest/*`),
          bucket.arnForObjects(`${props.storage.uploadsPrefix}*`),
          ...(props.externalUploadBuckets ?? []).map((name) => `arn:${Aws.PARTITION}:s3:::${name}/${props.storage.uploadsPrefix}*`),
        ],
      }),
    );
    // The labels channel is an S3 prefix, which SageMaker lists.
    this.trainingRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${TRAINING_PREFIX}*`] } },
      }),
    );
    this.trainingRole.addToPolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects(`${TRAINING_PREFIX}*/output/*`)] }));
    this.trainingSource.grantRead(this.trainingRole);
    this.grantLogsAndMetrics(this.trainingRole, 'TrainingJobs', '/aws/sagemaker/TrainingJobs');
    this.trainingRole.addToPolicy(new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    this.trainingRole.addToPolicy(
      new PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [this.trainingImageRepositoryArn()],
      }),
    );

    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Runs the Percept serving containers of deployed deep-trained versions.',
    });
    this.executionRole.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${TRAINING_PREFIX}*/output/*`)] }));
    this.servingImage.repository.grantPull(this.executionRole);
    this.grantLogsAndMetrics(this.executionRole, 'Endpoints', '/aws/sagemaker/Endpoints', '/aws/sagemaker/InferenceComponents');

    this.endpointConfig = new CfnEndpointConfig(this, 'EndpointConfig', {
      executionRoleArn: this.executionRole.roleArn,
      productionVariants: [
        {
          variantName: VARIANT_NAME,
          instanceType: this.servingInstanceType,
          // SageMaker starts with one instance, and managed instance scaling releases it when no version has a copy.
          initialInstanceCount: 1,
          managedInstanceScaling: { status: 'ENABLED', minInstanceCount: 0, maxInstanceCount: maxInstances },
          routingConfig: { routingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
        },
      ],
    });
    this.endpoint = new CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
    });
    this.endpoint.node.addDependency(this.executionRole);

    this.jobStateFunction = new PerceptFunction(this, 'JobStateFunction', {
      entry: 'deep-training/job-state/handler.ts',
      description: 'Records SageMaker training job status on the model version and deploys trained versions.',
      memorySize: 1024,
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    })
      .useTable(props.storage.table, 'readWrite')
      .useBucket(bucket, 'read', [TRAINING_PREFIX]);
    this.jobStateFunction.addToRolePolicy(
      new PolicyStatement({ actions: ['sagemaker:DescribeTrainingJob', 'sagemaker:ListTags'], resources: [this.arn('training-job')] }),
    );
    this.jobStateFunction.addToRolePolicy(
      new PolicyStatement({ actions: ['sagemaker:CreateModel', 'sagemaker:AddTags'], resources: [this.arn('model')] }),
    );
    this.jobStateFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:CreateInferenceComponent', 'sagemaker:AddTags'],
        resources: [this.arn('inference-component'), this.endpointArn()],
      }),
    );
    this.jobStateFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    this.grantAutoScaling(this.jobStateFunction);
    this.setServingEnvironment(this.jobStateFunction);

    const pattern = trainingJobStatePattern(this.resourcePrefix);
    this.jobStateRule = new Rule(this, 'JobStateRule', {
      description: 'Sends the status events of Percept training jobs to the job-state function.',
      eventPattern: { source: pattern.source as string[], detailType: pattern['detail-type'] as string[], detail: pattern.detail as Record<string, unknown> },
      targets: [new LambdaFunction(this.jobStateFunction, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });

    new CfnOutput(this, 'EndpointName', { value: this.endpointName, description: 'SageMaker endpoint of the deployed deep-trained versions' });
  }

  /**
   * Lets the API function start and stop training jobs (passing only the training role),
   * write datasets, and predict with, wake up and delete deployed versions.
   */
  public bindApi(apiFunction: PerceptFunction): void {
    apiFunction.useBucket(this.props.storage.bucket, 'readWrite', [TRAINING_PREFIX]);
    apiFunction.addEnvironment('TRAINING_ROLE_ARN', this.trainingRole.roleArn);
    apiFunction.addEnvironment('TRAINING_IMAGE_URI', this.trainingImage);
    apiFunction.addEnvironment('TRAINING_SOURCE_URI', this.trainingSource.s3ObjectUrl);
    apiFunction.addEnvironment('TRAINING_INSTANCE_TYPE', this.trainingInstanceType);
    apiFunction.addEnvironment('TRAINING_MAX_SECONDS', String((this.props.maxTrainingTime ?? Duration.seconds(DEFAULT_MAX_TRAINING_SECONDS)).toSeconds()));
    apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:CreateTrainingJob', 'sagemaker:AddTags', 'sagemaker:DescribeTrainingJob', 'sagemaker:StopTrainingJob'],
        resources: [this.arn('training-job')],
      }),
    );
    apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.trainingRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    apiFunction.addToRolePolicy(
      new PolicyStatement({ actions: ['sagemaker:DeleteInferenceComponent'], resources: [this.arn('inference-component')] }),
    );
    apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['sagemaker:DeleteModel'], resources: [this.arn('model')] }));
    apiFunction.addToRolePolicy(
      new PolicyStatement({ actions: ['application-autoscaling:DeregisterScalableTarget'], resources: ['*'] }),
    );
    this.bindPredict(apiFunction);
  }

  /** Lets a function predict with deployed versions (InvokeEndpoint) and wake a component scaled to zero. */
  public bindPredict(fn: PerceptFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['sagemaker:InvokeEndpoint'], resources: [this.endpointArn(), this.arn('inference-component')] }),
    );
    this.grantAutoScaling(fn);
    this.setServingEnvironment(fn);
  }

  private setServingEnvironment(fn: PerceptFunction): void {
    fn.addEnvironment('DEEP_RESOURCE_PREFIX', this.resourcePrefix);
    fn.addEnvironment('DEEP_MODELS_ENDPOINT_NAME', this.endpointName);
    fn.addEnvironment('DEEP_MODELS_EXECUTION_ROLE_ARN', this.executionRole.roleArn);
    fn.addEnvironment('DEEP_MODELS_MAX_COPIES', String(this.maxCopies));
    fn.addEnvironment('SERVING_IMAGE_URI', this.servingImage.imageUri);
    fn.addEnvironment('SERVING_INSTANCE_TYPE', this.servingInstanceType);
  }

  // Application Auto Scaling reads and sets the component's copy count through the caller's
  // permissions and its service-linked role, which the first registration creates.
  private grantAutoScaling(grantee: PerceptFunction): void {
    grantee.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:DescribeInferenceComponent', 'sagemaker:UpdateInferenceComponentRuntimeConfig'],
        resources: [this.arn('inference-component')],
      }),
    );
    grantee.addToRolePolicy(
      new PolicyStatement({
        actions: ['application-autoscaling:RegisterScalableTarget', 'application-autoscaling:PutScalingPolicy', 'application-autoscaling:DescribeScalableTargets'],
        resources: ['*'],
      }),
    );
    grantee.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:CreateServiceLinkedRole'],
        resources: [
          `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint`,
        ],
        conditions: { StringLike: { 'iam:AWSServiceName': 'sagemaker.application-autoscaling.amazonaws.com' } },
      }),
    );
  }

  private grantLogsAndMetrics(role: Role, metricsScope: string, ...logGroups: string[]): void {
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: logGroups.map((group) => `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:${group}*`),
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': [`/aws/sagemaker/${metricsScope}`, 'aws/sagemaker/*'] } },
      }),
    );
  }

  private arn(resourceType: string): string {
    return `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resourceType}/${this.resourcePrefix}-*`;
  }

  private endpointArn(): string {
    return `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:endpoint/${this.endpointName}`;
  }

  private trainingImageRepositoryArn(): string {
    if (this.props.trainingImage === undefined) {
      return `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${DLC_ACCOUNT}:repository/pytorch-training`;
    }
    const [, account, region, repository] = ECR_IMAGE.exec(this.props.trainingImage) ?? [];
    return `arn:${Aws.PARTITION}:ecr:${region}:${account}:repository/${repository}`;
  }

  // Every problem of the props is collected and reported in one error.
  private validate(maxInstances: number): void {
    const problems: string[] = [];
    if (!SERVING_FAMILIES.test(this.servingInstanceType)) {
      problems.push(`servingInstanceType ${JSON.stringify(this.servingInstanceType)} is not a GPU instance type of the ml.g5, ml.g6 or ml.g6e family, e.g. ml.g5.xlarge or ml.g6.xlarge.`);
    }
    if (!/^ml\.[a-z0-9-]+\.[0-9]*x?large$/.test(this.trainingInstanceType)) {
      problems.push(`trainingInstanceType ${JSON.stringify(this.trainingInstanceType)} is not a SageMaker instance type such as ml.g5.xlarge.`);
    }
    if (this.props.trainingImage !== undefined && !ECR_IMAGE.test(this.props.trainingImage)) {
      problems.push(`trainingImage ${JSON.stringify(this.props.trainingImage)} is not an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>.`);
    }
    if (!/^[a-z0-9](-*[a-z0-9]){0,29}$/.test(this.resourcePrefix)) {
      problems.push(`resourcePrefix ${JSON.stringify(this.resourcePrefix)} must be 1 to 30 lower-case letters, digits and hyphens, so that "<prefix>-<32-digit version id>" fits SageMaker's 63-character names.`);
    }
    if (!Number.isInteger(maxInstances) || maxInstances < 1) {
      problems.push(`maxInstances must be a whole number of at least 1, got ${maxInstances}.`);
    }
    if (!Number.isInteger(this.maxCopies) || this.maxCopies < 1) {
      problems.push(`maxCopiesPerVersion must be a whole number of at least 1, got ${this.maxCopies}.`);
    }
    if (problems.length > 0) {
      throw new DeepModelsPropsError(`DeepModels ${this.node.path} has invalid props: ${problems.join(' ')}`);
    }
  }
}

/**
 * Returns the patterns that limit the serving image's build context (the repository root) to
 * the files the Dockerfile copies. They are those of sagemaker/serving/Dockerfile.dockerignore,
 * which Docker reads beside the Dockerfile but CDK's staging does not. The Dockerfile itself is
 * added, because `docker build -f` needs it in the staged folder although the image does not.
 */
function servingContextExcludes(): string[] {
  const file = path.join(PROJECT_ROOT, 'sagemaker', 'serving', 'Dockerfile.dockerignore');
  const patterns = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return [...patterns, '!sagemaker/serving/Dockerfile'];
}
