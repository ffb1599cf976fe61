/**
 * A local SageMaker on one 127.0.0.1 port, which AWS_ENDPOINT_URL_SAGEMAKER,
 * AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME and AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING point at.
 * It speaks the control plane's JSON 1.1 protocol (the training job, model, endpoint and
 * inference component operations that Percept calls) and the runtime's InvokeEndpoint
 * (`POST /endpoints/{name}/invocations`). Application Auto Scaling's JSON 1.1 operations are
 * recorded only, so nothing scales.
 *
 * A training job first downloads its channels from the local S3, as SageMaker does. It then runs
 * sagemaker/training/train.py (from the job's `sagemaker_submit_directory` archive) as a child
 * process of Debian's /usr/bin/python3 on CPU. Afterwards it packs SM_MODEL_DIR into
 * model.tar.gz in the job's output path and puts "SageMaker Training Job State Change" events on
 * the local EventBridge. An inference component is a child process of sagemaker/serving/server.ts
 * on a free 127.0.0.1 port, in service once its /ping responds 200. `stop()` stops every child.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { create as createTar, extract as extractTar } from 'tar';
import { logger } from '#commons/logger.ts';
import { TRAINING_JOB_STATE_CHANGE } from '#commons/deep-training/settings.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './lambda.ts';
import { closeServer } from './step-functions.ts';

const HOST = '127.0.0.1';
const REPO_ROOT = path.resolve(import.meta.dirname, '..');

export interface LocalSageMakerOptions {
  /** The local S3 endpoint that channels are read from and model.tar.gz is written to. */
  s3Endpoint: string;
  /** The local EventBridge endpoint that training job events go to. */
  eventBridgeEndpoint: string;
  /** The Python interpreter, which must import torch and torchvision. @default '/usr/bin/python3' */
  python?: string;
  /** The serving process's entry script. @default sagemaker/serving/server.ts of this repository */
  servingScript?: string;
  /** The maximum time an inference component may take to respond 200 to /ping, in ms. @default 120000 */
  pingTimeoutMs?: number;
}

export interface LocalSageMaker {
  endpoint: string;
  /** The training jobs created so far, by name, with their status. */
  trainingJobs(): Array<{ name: string; status: string; failureReason?: string }>;
  stop(): Promise<void>;
}

/** An error in the SageMaker wire format: HTTP status, `__type` (JSON 1.1) or `x-amzn-errortype` (REST JSON). */
class ServiceError extends Error {
  public constructor(
    public readonly type: string,
    message: string,
    public readonly httpStatus = 400,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Json = Record<string, any>;

interface TrainingJob {
  name: string;
  arn: string;
  request: Json;
  status: 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';
  secondaryStatus: string;
  failureReason?: string;
  modelArtifacts?: string;
  tags: Record<string, string>;
  creationTime: number;
  startTime?: number;
  endTime?: number;
  child?: ChildProcess;
  stopReason?: 'Stopped' | 'MaxRuntimeExceeded';
}

interface InferenceComponent {
  name: string;
  arn: string;
  endpointName: string;
  variantName: string;
  modelName: string;
  specification: Json;
  status: 'Creating' | 'InService' | 'Updating' | 'Failed' | 'Deleting';
  failureReason?: string;
  desiredCopyCount: number;
  currentCopyCount: number;
  port?: number;
  child?: ChildProcess;
  creationTime: number;
  lastModifiedTime: number;
}

const now = (): number => Date.now() / 1000;
const arnOf = (kind: string, name: string): string => `arn:aws:sagemaker:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${kind}/${name.toLowerCase()}`;

export async function startLocalSageMaker(options: LocalSageMakerOptions): Promise<LocalSageMaker> {
  const python = options.python ?? '/usr/bin/python3';
  const servingScript = options.servingScript ?? path.join(REPO_ROOT, 'sagemaker', 'serving', 'server.ts');
  const pingTimeoutMs = options.pingTimeoutMs ?? 120_000;
  const workDir = await mkdtemp(path.join(tmpdir(), 'percept-sagemaker-'));
  const s3 = new S3Client({
    endpoint: options.s3Endpoint,
    region: LOCAL_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const events = new EventBridgeClient({
    endpoint: options.eventBridgeEndpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  const jobs = new Map<string, TrainingJob>();
  const models = new Map<string, Json>();
  const endpointConfigs = new Map<string, Json>();
  const endpoints = new Map<string, Json>();
  const components = new Map<string, InferenceComponent>();
  const scalableTargets = new Map<string, Json>();
  const scalingPolicies = new Map<string, Json>();
  const running = new Set<Promise<void>>();
  let torchCheck: Promise<string | undefined> | undefined;
  let stopping = false;

  function track(task: Promise<void>): void {
    const tracked = task
      .catch((error: unknown) => logger.error('local sagemaker task failed', { error }))
      .finally(() => running.delete(tracked));
    running.add(tracked);
  }

  // --- Training jobs -------------------------------------------------------------------

  /** Returns undefined when torch and torchvision import, else the reason and the fix. */
  function checkTorch(): Promise<string | undefined> {
    torchCheck ??= new Promise((resolve) => {
      const child = spawn(python, ['-c', 'import torch, torchvision'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', (error) => resolve(`${python} could not be run (${error.message})`));
      child.on('exit', (code) => resolve(code === 0 ? undefined : `${python} cannot import torch and torchvision (${lastLine(stderr)})`));
    });
    return torchCheck;
  }

  async function createTrainingJob(request: Json): Promise<Json> {
    const name = String(request.TrainingJobName ?? '');
    if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
      throw new ServiceError('ValidationException', `TrainingJobName ${JSON.stringify(name)} must be 1 to 63 letters, digits and hyphens.`);
    }
    if (jobs.has(name)) {
      throw new ServiceError('ResourceInUse', `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arnOf('training-job', name)})`);
    }
    const missingTorch = await checkTorch();
    if (missingTorch !== undefined) {
      throw new ServiceError(
        'ValidationException',
        `The local SageMaker cannot run training jobs: ${missingTorch}. Install PyTorch with \`npm run setup:deep-training\` (runs apt-get install -y python3-torch python3-torchvision), then train again.`,
      );
    }
    const tags = Object.fromEntries(((request.Tags ?? []) as Array<{ Key: string; Value: string }>).map((tag) => [tag.Key, tag.Value]));
    const job: TrainingJob = {
      name,
      arn: arnOf('training-job', name),
      request,
      status: 'InProgress',
      secondaryStatus: 'Starting',
      tags,
      creationTime: now(),
    };
    jobs.set(name, job);
    track(runTrainingJob(job));
    return { TrainingJobArn: job.arn };
  }

  function describeTrainingJob(job: TrainingJob): Json {
    const request = job.request;
    return {
      TrainingJobName: job.name,
      TrainingJobArn: job.arn,
      TrainingJobStatus: job.status,
      SecondaryStatus: job.secondaryStatus,
      ...(job.failureReason === undefined ? {} : { FailureReason: job.failureReason }),
      ...(job.modelArtifacts === undefined ? {} : { ModelArtifacts: { S3ModelArtifacts: job.modelArtifacts } }),
      HyperParameters: request.HyperParameters ?? {},
      AlgorithmSpecification: request.AlgorithmSpecification,
      RoleArn: request.RoleArn,
      InputDataConfig: request.InputDataConfig,
      OutputDataConfig: request.OutputDataConfig,
      ResourceConfig: request.ResourceConfig,
      StoppingCondition: request.StoppingCondition,
      CreationTime: job.creationTime,
      ...(job.startTime === undefined ? {} : { TrainingStartTime: job.startTime }),
      ...(job.endTime === undefined ? {} : { TrainingEndTime: job.endTime }),
      LastModifiedTime: job.endTime ?? job.startTime ?? job.creationTime,
    };
  }

  // The event's detail has DescribeTrainingJob's fields and the tags as a key-value map.
  async function emitJobState(job: TrainingJob): Promise<void> {
    const detail = { ...describeTrainingJob(job), Tags: job.tags };
    const result = await events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'aws.sagemaker', DetailType: TRAINING_JOB_STATE_CHANGE, Resources: [job.arn], Detail: JSON.stringify(detail) }],
      }),
    );
    if ((result.FailedEntryCount ?? 0) > 0) {
      logger.error('local training job event not delivered', { trainingJobName: job.name, entries: result.Entries });
    }
  }

  async function runTrainingJob(job: TrainingJob): Promise<void> {
    job.startTime = now();
    await emitJobState(job);
    const jobDir = path.join(workDir, 'jobs', job.name);
    const dirs = {
      input: path.join(jobDir, 'input', 'data'),
      code: path.join(jobDir, 'code'),
      model: path.join(jobDir, 'model'),
      output: path.join(jobDir, 'output'),
      outputData: path.join(jobDir, 'output', 'data'),
    };
    let exit: { code: number | null; stderr: string } | undefined;
    try {
      for (const dir of Object.values(dirs)) {
        await mkdir(dir, { recursive: true });
      }
      job.secondaryStatus = 'Downloading';
      const hyperParameters = decodeHyperParameters(job.request.HyperParameters ?? {});
      const channels: string[] = [];
      for (const channel of (job.request.InputDataConfig ?? []) as Json[]) {
        await downloadChannel(channel, path.join(dirs.input, channel.ChannelName));
        channels.push(channel.ChannelName);
      }
      const program = String(hyperParameters.sagemaker_program ?? '');
      await downloadSource(String(hyperParameters.sagemaker_submit_directory ?? ''), dirs.code);
      if (!existsSync(path.join(dirs.code, program))) {
        throw new Error(`ExecuteUserScriptError: sagemaker_program ${JSON.stringify(program)} is not in the sagemaker_submit_directory archive.`);
      }

      job.secondaryStatus = 'Training';
      const userHyperParameters = Object.fromEntries(Object.entries(hyperParameters).filter(([key]) => !key.startsWith('sagemaker_')));
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: 'C.UTF-8',
        PYTHONUNBUFFERED: '1',
        SM_MODEL_DIR: dirs.model,
        SM_OUTPUT_DIR: dirs.output,
        SM_OUTPUT_DATA_DIR: dirs.outputData,
        SM_INPUT_DIR: path.dirname(dirs.input),
        SM_CHANNELS: JSON.stringify(channels),
        SM_HPS: JSON.stringify(userHyperParameters),
        SM_NUM_GPUS: '0',
        SM_NUM_CPUS: String(navigatorCpus()),
        SM_CURRENT_HOST: 'algo-1',
        SM_HOSTS: JSON.stringify(['algo-1']),
        SM_USER_ENTRY_POINT: program,
        SM_MODULE_DIR: String(hyperParameters.sagemaker_submit_directory ?? ''),
        ...Object.fromEntries(channels.map((channel) => [`SM_CHANNEL_${channel.toUpperCase()}`, path.join(dirs.input, channel)])),
      };
      exit = await runChild(job, python, [program, ...toCommandLine(userHyperParameters)], dirs.code, env, path.join(jobDir, 'training.log'));
    } catch (error) {
      job.failureReason = `ClientError: ${(error as Error).message}`;
    }

    job.endTime = now();
    if (job.stopReason !== undefined) {
      job.status = 'Stopped';
      job.secondaryStatus = job.stopReason;
    } else if (exit?.code === 0) {
      try {
        job.secondaryStatus = 'Uploading';
        job.modelArtifacts = await uploadModel(job, dirs.model);
        job.status = 'Completed';
        job.secondaryStatus = 'Completed';
      } catch (error) {
        job.status = 'Failed';
        job.secondaryStatus = 'Failed';
        job.failureReason = `ClientError: uploading model.tar.gz failed: ${(error as Error).message}`;
      }
    } else {
      job.status = 'Failed';
      job.secondaryStatus = 'Failed';
      if (exit !== undefined) {
        job.failureReason = await failureReasonOf(dirs.output, exit);
      }
    }
    logger.info('local training job finished', { trainingJobName: job.name, status: job.status, failureReason: job.failureReason });
    if (!stopping) {
      await emitJobState(job);
    }
  }

  async function failureReasonOf(outputDir: string, exit: { code: number | null; stderr: string }): Promise<string> {
    const failureFile = path.join(outputDir, 'failure');
    if (existsSync(failureFile)) {
      const written = (await readFile(failureFile, 'utf8')).trim();
      if (written !== '') {
        return `AlgorithmError: ${written}`;
      }
    }
    return `AlgorithmError: ExecuteUserScriptError: the training script exited with code ${exit.code}. ${lastLine(exit.stderr)}`;
  }

  function runChild(
    job: TrainingJob,
    command: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    logFile: string,
  ): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      job.child = child;
      const output: Buffer[] = [];
      let stderr = '';
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => {
        output.push(chunk);
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      const maxSeconds = Number(job.request.StoppingCondition?.MaxRuntimeInSeconds ?? 86_400);
      const timer = setTimeout(() => {
        job.stopReason = 'MaxRuntimeExceeded';
        child.kill('SIGTERM');
      }, maxSeconds * 1000);
      child.on('error', (error) => {
        stderr += error.message;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        job.child = undefined;
        void writeFile(logFile, Buffer.concat(output)).finally(() => resolve({ code, stderr }));
      });
    });
  }

  async function downloadChannel(channel: Json, dir: string): Promise<void> {
    const source = channel.DataSource?.S3DataSource as Json | undefined;
    if (source === undefined) {
      throw new Error(`Channel ${channel.ChannelName} has no DataSource.S3DataSource.`);
    }
    await mkdir(dir, { recursive: true });
    if (source.S3DataType === 'ManifestFile') {
      const manifest = JSON.parse((await getObject(source.S3Uri)).toString('utf8')) as unknown[];
      const [head, ...keys] = manifest;
      const prefix = (head as { prefix?: string } | undefined)?.prefix;
      if (prefix === undefined) {
        throw new Error(`The manifest ${source.S3Uri} does not start with {"prefix": "s3://..."}.`);
      }
      for (const key of keys as string[]) {
        await writeInside(dir, key, await getObject(`${prefix}${key}`));
      }
      return;
    }
    const { bucket, key: prefix } = splitUri(source.S3Uri);
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        const key = object.Key as string;
        await writeInside(dir, key.slice(prefix.length), await getObject(`s3://${bucket}/${key}`));
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
  }

  async function downloadSource(uri: string, dir: string): Promise<void> {
    const archive = path.join(dir, '..', 'sourcedir.tar.gz');
    await writeFile(archive, await getObject(uri));
    await extractTar({ file: archive, cwd: dir });
  }

  async function uploadModel(job: TrainingJob, modelDir: string): Promise<string> {
    const archive = path.join(modelDir, '..', 'model.tar.gz');
    await createTar({ gzip: true, file: archive, cwd: modelDir, portable: true }, await readdir(modelDir));
    const outputPath = String(job.request.OutputDataConfig?.S3OutputPath ?? '');
    const uri = `${outputPath.endsWith('/') ? outputPath : `${outputPath}/`}${job.name}/output/model.tar.gz`;
    const { bucket, key } = splitUri(uri);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(archive) }));
    return uri;
  }

  async function getObject(uri: string): Promise<Buffer> {
    const { bucket, key } = splitUri(uri);
    try {
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
    } catch (error) {
      throw new Error(`Could not download ${uri}: ${(error as Error).message}`, { cause: error });
    }
  }

  function stopTrainingJob(name: string): Json {
    const job = jobs.get(name);
    if (job === undefined) {
      throw new ServiceError('ValidationException', `Requested resource not found: training job ${name} does not exist.`);
    }
    if (job.status !== 'InProgress') {
      throw new ServiceError('ValidationException', `The request was rejected because the training job is in status ${job.status}.`);
    }
    job.status = 'Stopping';
    job.secondaryStatus = 'Stopping';
    job.stopReason = 'Stopped';
    job.child?.kill('SIGTERM');
    return {};
  }

  // --- Models, endpoints and inference components -------------------------------------

  function createInferenceComponent(request: Json): Json {
    const name = String(request.InferenceComponentName ?? '');

    if (components.has(name)) {
      throw new ServiceError('ValidationException', `Cannot create already existing inference component "${arnOf('inference-component', name)}".`);
    }
    const endpoint = endpoints.get(String(request.EndpointName));
    if (endpoint === undefined) {
      throw new ServiceError('ValidationException', `Could not find endpoint "${request.EndpointName}".`);
    }
    const modelName = String(request.Specification?.ModelName ?? '');
    if (!models.has(modelName)) {
      throw new ServiceError('ValidationException', `Could not find model "${modelName}".`);
    }
    const copyCount = Number(request.RuntimeConfig?.CopyCount ?? 0);
    if (!Number.isInteger(copyCount) || copyCount < 1) {
      throw new ServiceError('ValidationException', 'Inference components copy count an integer larger than 0.');
    }

    const component: InferenceComponent = {
      name,
      arn: arnOf('inference-component', name),
      endpointName: String(request.EndpointName),
      variantName: String(request.VariantName ?? 'AllTraffic'),
      modelName,
      specification: request.Specification,
      status: 'Creating',
      desiredCopyCount: copyCount,
      currentCopyCount: 0,
      creationTime: now(),
      lastModifiedTime: now(),
    };
    components.set(name, component);
    track(startComponent(component));
    return { InferenceComponentArn: component.arn };
  }

  // Starts one serving process for the component (the stand-in runs one copy whatever the count).
  async function startComponent(component: InferenceComponent): Promise<void> {
    try {
      const model = models.get(component.modelName) as Json;
      const modelDir = path.join(workDir, 'components', component.name, randomUUID());
      await mkdir(modelDir, { recursive: true });
      const archive = `${modelDir}.tar.gz`;
      await writeFile(archive, await getObject(String(model.PrimaryContainer?.ModelDataUrl)));
      await extractTar({ file: archive, cwd: modelDir });
      const port = await freePort();
      const child = spawn(path.join(REPO_ROOT, 'node_modules', '.bin', 'node'), ['--import', 'tsx', servingScript], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          SM_MODEL_DIR: modelDir,
          SAGEMAKER_BIND_TO_PORT: String(port),
          SERVING_HOST: HOST,
          PERCEPT_EXECUTION_PROVIDER: 'cpu',
          POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO',
          ...(model.PrimaryContainer?.Environment ?? {}),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      component.child = child;
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      child.on('exit', (code) => {
        if (component.child === child) {
          component.child = undefined;
          component.currentCopyCount = 0;
          if (component.status !== 'Deleting' && !stopping) {
            component.status = 'Failed';
            component.failureReason = `The serving process exited with code ${code}: ${lastLine(stderr)}`;
            logger.error('local inference component exited', { inferenceComponentName: component.name, code, stderr: lastLine(stderr) });
          }
        }
      });
      await waitForPing(port, child, pingTimeoutMs, () => stderr);
      component.port = port;
      component.status = 'InService';
      component.currentCopyCount = component.desiredCopyCount;
      component.lastModifiedTime = now();
      logger.info('local inference component in service', { inferenceComponentName: component.name, port });
    } catch (error) {
      stopChild(component.child);
      component.child = undefined;
      component.status = 'Failed';
      component.failureReason = (error as Error).message;
      logger.error('local inference component failed', { inferenceComponentName: component.name, error });
    }
  }

  function describeComponent(name: string): Json {
    const component = components.get(name);
    if (component === undefined) {
      throw new ServiceError('ValidationException', `Could not find inference component "${arnOf('inference-component', name)}".`);
    }
    return {
      InferenceComponentName: component.name,
      InferenceComponentArn: component.arn,
      EndpointName: component.endpointName,
      EndpointArn: arnOf('endpoint', component.endpointName),
      VariantName: component.variantName,
      InferenceComponentStatus: component.status,
      ...(component.failureReason === undefined ? {} : { FailureReason: component.failureReason }),
      Specification: component.specification,
      RuntimeConfig: { DesiredCopyCount: component.desiredCopyCount, CurrentCopyCount: component.currentCopyCount },
      CreationTime: component.creationTime,
      LastModifiedTime: component.lastModifiedTime,
    };
  }

  function updateComponentRuntime(request: Json): Json {
    const component = components.get(String(request.InferenceComponentName));
    if (component === undefined) {
      throw new ServiceError('ValidationException', `Could not find inference component "${request.InferenceComponentName}".`);
    }
    const copies = Number(request.DesiredRuntimeConfig?.CopyCount ?? 0);
    component.desiredCopyCount = copies;
    component.lastModifiedTime = now();
    if (copies === 0) {
      stopChild(component.child);
      component.child = undefined;
      component.currentCopyCount = 0;
    } else if (component.child === undefined) {
      component.status = 'Updating';
      track(startComponent(component));
    } else {
      component.currentCopyCount = copies;
    }
    return { InferenceComponentArn: component.arn };
  }

  function deleteComponent(name: string): Json {
    const component = components.get(name);
    if (component === undefined) {
      throw new ServiceError('ValidationException', `Could not find inference component "${arnOf('inference-component', name)}".`);
    }
    component.status = 'Deleting';
    stopChild(component.child);
    components.delete(name);
    return {};
  }

  const sageMakerOperations: Record<string, (request: Json) => Json | Promise<Json>> = {
    CreateTrainingJob: createTrainingJob,
    DescribeTrainingJob: (request) => {
      const job = jobs.get(String(request.TrainingJobName));
      if (job === undefined) {
        throw new ServiceError('ValidationException', `Requested resource not found: training job ${request.TrainingJobName} does not exist.`);
      }
      return describeTrainingJob(job);
    },
    StopTrainingJob: (request) => stopTrainingJob(String(request.TrainingJobName)),
    ListTags: (request) => {
      const job = [...jobs.values()].find((candidate) => candidate.arn === request.ResourceArn);
      return { Tags: Object.entries(job?.tags ?? {}).map(([Key, Value]) => ({ Key, Value })) };
    },
    CreateModel: (request) => {
      const name = String(request.ModelName ?? '');
      if (models.has(name)) {
        throw new ServiceError('ValidationException', `Cannot create already existing model "${arnOf('model', name)}".`);
      }
      models.set(name, request);
      return { ModelArn: arnOf('model', name) };
    },
    DeleteModel: (request) => {
      if (!models.delete(String(request.ModelName))) {
        throw new ServiceError('ValidationException', `Could not find model "${arnOf('model', String(request.ModelName))}".`);
      }
      return {};
    },
    CreateEndpointConfig: (request) => {
      const name = String(request.EndpointConfigName ?? '');
      if (endpointConfigs.has(name)) {
        throw new ServiceError('ValidationException', `Cannot create already existing endpoint configuration "${arnOf('endpoint-config', name)}".`);
      }
      if (request.ExecutionRoleArn === undefined) {
        throw new ServiceError('ValidationException', 'ExecutionRoleArn is required for an endpoint configuration that hosts inference components.');
      }
      endpointConfigs.set(name, request);
      return { EndpointConfigArn: arnOf('endpoint-config', name) };
    },
    CreateEndpoint: (request) => {
      const name = String(request.EndpointName ?? '');
      if (endpoints.has(name)) {
        throw new ServiceError('ValidationException', `Cannot create already existing endpoint "${arnOf('endpoint', name)}".`);
      }
      const configName = String(request.EndpointConfigName);
      if (!endpointConfigs.has(configName)) {
        throw new ServiceError('ValidationException', `Could not find endpoint configuration "${configName}".`);
      }
      endpoints.set(name, { EndpointName: name, EndpointConfigName: configName, CreationTime: now() });
      return { EndpointArn: arnOf('endpoint', name) };
    },
    DescribeEndpoint: (request) => {
      const endpoint = endpoints.get(String(request.EndpointName));
      if (endpoint === undefined) {
        throw new ServiceError('ValidationException', `Could not find endpoint "${request.EndpointName}".`);
      }
      return { ...endpoint, EndpointArn: arnOf('endpoint', endpoint.EndpointName), EndpointStatus: 'InService', LastModifiedTime: endpoint.CreationTime };
    },
    CreateInferenceComponent: createInferenceComponent,
    DescribeInferenceComponent: (request) => describeComponent(String(request.InferenceComponentName)),
    UpdateInferenceComponentRuntimeConfig: updateComponentRuntime,
    DeleteInferenceComponent: (request) => deleteComponent(String(request.InferenceComponentName)),
  };

  const autoScalingOperations: Record<string, (request: Json) => Json> = {
    RegisterScalableTarget: (request) => {
      const id = `${request.ServiceNamespace}/${request.ResourceId}/${request.ScalableDimension}`;
      scalableTargets.set(id, request);
      return { ScalableTargetARN: `arn:aws:application-autoscaling:${LOCAL_REGION}:${LOCAL_ACCOUNT}:scalable-target/${randomUUID()}` };
    },
    PutScalingPolicy: (request) => {
      scalingPolicies.set(`${request.ResourceId}/${request.PolicyName}`, request);
      return { PolicyARN: `arn:aws:autoscaling:${LOCAL_REGION}:${LOCAL_ACCOUNT}:scalingPolicy:${randomUUID()}:resource/${request.ResourceId}:policyName/${request.PolicyName}`, Alarms: [] };
    },
    DeregisterScalableTarget: (request) => {
      const id = `${request.ServiceNamespace}/${request.ResourceId}/${request.ScalableDimension}`;
      if (!scalableTargets.delete(id)) {
        throw new ServiceError('ObjectNotFoundException', `No scalable target registered for service namespace: ${request.ServiceNamespace}, resource ID: ${request.ResourceId}, scalable dimension: ${request.ScalableDimension}`);
      }
      return {};
    },
  };

  // --- Runtime ------------------------------------------------------------------------

  async function invokeEndpoint(endpointName: string, request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
    if (!endpoints.has(endpointName)) {
      throw new ServiceError('ValidationError', `Endpoint ${endpointName} of account ${LOCAL_ACCOUNT} not found.`);
    }

    const componentName = request.headers['x-amzn-sagemaker-inference-component'];
    if (typeof componentName !== 'string' || componentName === '') {
      throw new ServiceError('ValidationError', 'Inference Component Name header is required for endpoints to which you plan to deploy inference components.');
    }
    const component = components.get(componentName);
    if (component === undefined || component.endpointName !== endpointName) {
      throw new ServiceError('ValidationError', `Inference component ${componentName} is not found on endpoint ${endpointName}.`);
    }
    if (component.status !== 'InService' || component.currentCopyCount === 0 || component.port === undefined) {
      throw new ServiceError(
        'ValidationError',
        'Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API.',
      );
    }

    const forwarded = await fetch(`http://${HOST}:${component.port}/invocations`, {
      method: 'POST',
      headers: { 'content-type': String(request.headers['content-type'] ?? 'application/octet-stream') },
      body,
    });
    const answer = Buffer.from(await forwarded.arrayBuffer());

    // SageMaker reports a container's non-200 response as ModelError (HTTP 424) with the original status and body.
    if (forwarded.status !== 200) {
      throw new ServiceError('ModelError', `Received client error (${forwarded.status}) from primary with message "${answer.toString('utf8')}".`, 424, {
        OriginalStatusCode: forwarded.status,
        OriginalMessage: answer.toString('utf8'),
        LogStreamArn: `arn:aws:logs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:log-group:/aws/sagemaker/InferenceComponents/${componentName}`,
      });
    }
    response.statusCode = 200;
    response.setHeader('content-type', forwarded.headers.get('content-type') ?? 'application/json');
    response.setHeader('x-amzn-invoked-production-variant', component.variantName);
    response.end(answer);
  }

  // --- HTTP ---------------------------------------------------------------------------

  const server = createServer((request, response) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) {
        chunks.push(chunk as Buffer);
      }
      const body = Buffer.concat(chunks);
      const invocation = /^\/endpoints\/([^/]+)\/invocations$/.exec((request.url ?? '').split('?')[0] ?? '');
      try {
        if (invocation !== null && request.method === 'POST') {
          await invokeEndpoint(decodeURIComponent(invocation[1] as string), request, body, response);
          return;
        }
        const [service, operation = ''] = String(request.headers['x-amz-target'] ?? '').split('.');
        let action: ((request: Json) => Json | Promise<Json>) | undefined;
        if (service === 'SageMaker') {
          action = sageMakerOperations[operation];
        } else if (service === 'AnyScaleFrontendService') {
          action = autoScalingOperations[operation];
        }
        if (action === undefined) {
          throw new ServiceError('UnknownOperationException', `The local SageMaker does not implement ${String(request.headers['x-amz-target'] ?? request.url)}.`);
        }
        const result = await action(JSON.parse(body.toString('utf8') || '{}') as Json);
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        response.end(JSON.stringify(result));
      } catch (error) {
        const failure = error instanceof ServiceError ? error : new ServiceError('InternalFailure', (error as Error).message, 500);
        if (!(error instanceof ServiceError)) {
          logger.error('local sagemaker request failed', { error });
        }
        response.statusCode = failure.httpStatus;
        response.setHeader('content-type', 'application/json');
        response.setHeader('x-amzn-errortype', failure.type);
        response.end(JSON.stringify({ __type: failure.type, message: failure.message, Message: failure.message, ...failure.extra }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://${HOST}:${port}`,
    trainingJobs: () =>
      [...jobs.values()].map((job) => ({ name: job.name, status: job.status, ...(job.failureReason === undefined ? {} : { failureReason: job.failureReason }) })),
    stop: async () => {
      stopping = true;
      const children = [...[...jobs.values()].map((job) => job.child), ...[...components.values()].map((component) => component.child)];
      await Promise.all(children.map((child) => stopChild(child)));
      await Promise.all(running);
      await closeServer(server);
      s3.destroy();
      events.destroy();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** Stops a child process by its id: SIGTERM, then SIGKILL after 5 s. Resolves when it has exited. */
function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Decodes SageMaker hyperparameters as the training toolkit does: each value is parsed as
 * JSON when it is valid JSON, else kept as the string.
 */
export function decodeHyperParameters(hyperParameters: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(hyperParameters).map(([key, value]) => {
      try {
        return [key, JSON.parse(value) as unknown];
      } catch {
        return [key, value];
      }
    }),
  );
}

/**
 * Returns the script's command line as the training toolkit builds it: keys in sorted order,
 * each `--key value`, values formatted as Python's `str()` (booleans `True`/`False`).
 */
export function toCommandLine(hyperParameters: Record<string, unknown>): string[] {
  return Object.keys(hyperParameters)
    .sort()
    .flatMap((key) => {
      const value = hyperParameters[key];
      let text: string;
      if (typeof value === 'boolean') {
        text = value ? 'True' : 'False';
      } else if (typeof value === 'string') {
        text = value;
      } else {
        text = JSON.stringify(value);
      }
      return [key.length > 1 ? `--${key}` : `-${key}`, text];
    });
}

function splitUri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (match === null) {
    throw new Error(`${JSON.stringify(uri)} is not an s3:// URI.`);
  }
  return { bucket: match[1] as string, key: match[2] as string };
}

// Writes a downloaded object under `dir`, rejecting a key that would leave it (`..`).
async function writeInside(dir: string, relativePath: string, bytes: Buffer): Promise<void> {
  const target = path.resolve(dir, relativePath);
  if (!target.startsWith(`${path.resolve(dir)}${path.sep}`)) {
    throw new Error(`The object key ${JSON.stringify(relativePath)} points outside the channel folder.`);
  }
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, bytes);
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter((line) => line.trim() !== '');
  return lines.at(-1) ?? 'no error output';
}

function navigatorCpus(): number {
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The serving process exited with code ${child.exitCode} before /ping responded 200: ${lastLine(stderr())}`);
    }
    try {
      const response = await fetch(`http://${HOST}:${port}/ping`);
      if (response.status === 200) {
        return;
      }
    } catch {
      // The server is not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The serving process did not respond 200 to /ping within ${timeoutMs} ms.`);
}

/** Settings of the local deep-training resources, as the DeepModels construct sets them on AWS. */
export interface LocalDeepModelsOptions {
  bucketName: string;
  s3Endpoint: string;
  /** The folder of the training script. @default sagemaker/training of this repository */
  trainingSourceDir?: string;
}

/**
 * Provisions what the DeepModels construct declares on AWS: uploads the training source
 * archive to the bucket and creates the shared endpoint (its endpoint configuration names a
 * GPU instance type, which the stand-in ignores). Returns the functions' environment.
 */
export async function provisionLocalDeepModels(sageMakerEndpoint: string, options: LocalDeepModelsOptions): Promise<Record<string, string>> {
  const { SageMakerClient, CreateEndpointCommand, CreateEndpointConfigCommand } = await import('@aws-sdk/client-sagemaker');
  const { writeTrainingSourceArchive } = await import('#commons/deep-training/source-archive.ts');
  const { DEFAULT_SERVING_INSTANCE_TYPE, VARIANT_NAME } = await import('#commons/deep-training/settings.ts');
  const sourceDir = options.trainingSourceDir ?? path.join(REPO_ROOT, 'sagemaker', 'training');
  const sourceKey = 'deep-training/source/sourcedir.tar.gz';
  if (existsSync(sourceDir)) {
    const archiveDir = await mkdtemp(path.join(tmpdir(), 'percept-training-source-'));
    const archive = path.join(archiveDir, 'sourcedir.tar.gz');
    writeTrainingSourceArchive(sourceDir, archive);
    const s3 = new S3Client({
      endpoint: options.s3Endpoint,
      region: LOCAL_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await s3.send(new PutObjectCommand({ Bucket: options.bucketName, Key: sourceKey, Body: await readFile(archive) }));
    s3.destroy();
    await rm(archiveDir, { recursive: true, force: true });
  } else {
    logger.warn('training source folder missing; deep training jobs will fail', { sourceDir });
  }

  const endpointName = 'percept-deep-models';
  const executionRoleArn = `arn:aws:iam::${LOCAL_ACCOUNT}:role/percept-deep-models-execution`;
  const client = new SageMakerClient({ endpoint: sageMakerEndpoint, region: LOCAL_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await client.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: endpointName,
      ExecutionRoleArn: executionRoleArn,
      ProductionVariants: [
        {
          VariantName: VARIANT_NAME,
          InstanceType: DEFAULT_SERVING_INSTANCE_TYPE as never,
          InitialInstanceCount: 1,
          ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 2 },
          RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
        },
      ],
    }),
  );
  await client.send(new CreateEndpointCommand({ EndpointName: endpointName, EndpointConfigName: endpointName }));
  client.destroy();

  return {
    TRAINING_ROLE_ARN: `arn:aws:iam::${LOCAL_ACCOUNT}:role/percept-training`,
    TRAINING_IMAGE_URI: `${LOCAL_ACCOUNT}.dkr.ecr.${LOCAL_REGION}.amazonaws.com/local-pytorch-training:cpu`,
    TRAINING_SOURCE_URI: `s3://${options.bucketName}/${sourceKey}`,
    DEEP_MODELS_ENDPOINT_NAME: endpointName,
    DEEP_MODELS_EXECUTION_ROLE_ARN: executionRoleArn,
    SERVING_IMAGE_URI: `${LOCAL_ACCOUNT}.dkr.ecr.${LOCAL_REGION}.amazonaws.com/percept-serving:local`,
  };
}
