/**
 * Helpers for the deep-training tests: a small labelled dataset made from the fixture photos,
 * train.py run with Debian's /usr/bin/python3, and server.ts run as a child process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const TRAIN_SCRIPT = path.join(REPO_ROOT, 'sagemaker/training/train.py');
export const SERVER_SCRIPT = path.join(REPO_ROOT, 'sagemaker/serving/server.ts');
// Debian's interpreter, which has python3-torch and python3-torchvision; the python3 on PATH may not.
export const PYTHON = '/usr/bin/python3';
const NODE = path.join(REPO_ROOT, 'node_modules/.bin/node');
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/images');

/** Fixture photo of each concept of the test dataset. */
export const CONCEPT_PHOTOS: Record<string, string> = {
  cat: 'chelsea.jpg',
  coffee: 'coffee.jpg',
  rocket: 'rocket.jpg',
};
export const VARIANTS_PER_CONCEPT = 8;

export interface DatasetFolders {
  root: string;
  images: string;
  labels: string;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `percept-${prefix}-`));
}

/**
 * Writes VARIANTS_PER_CONCEPT crops of each concept's photo (different areas, every other one
 * mirrored, brightness varied) as JPEGs, with dataset.jsonl and concepts.json.
 */
export async function writeDataset(root: string): Promise<DatasetFolders> {
  const folders = { root, images: path.join(root, 'images'), labels: path.join(root, 'labels') };
  await mkdir(path.join(folders.images, 'photos'), { recursive: true });
  await mkdir(folders.labels, { recursive: true });

  const lines: string[] = [];
  for (const [concept, photo] of Object.entries(CONCEPT_PHOTOS)) {
    const source = sharp(path.join(FIXTURES, photo));
    const { width = 0, height = 0 } = await source.metadata();
    for (let variant = 0; variant < VARIANTS_PER_CONCEPT; variant++) {
      const share = 0.6 + 0.05 * variant;
      const cropWidth = Math.round(width * share);
      const cropHeight = Math.round(height * share);
      const left = Math.round(((width - cropWidth) * ((variant * 3) % 8)) / 7);
      const top = Math.round(((height - cropHeight) * ((variant * 5) % 8)) / 7);
      let pipeline = sharp(path.join(FIXTURES, photo))
        .extract({ left, top, width: cropWidth, height: cropHeight })
        .resize({ width: 160 })
        .modulate({ brightness: 0.85 + 0.05 * variant });
      if (variant % 2 === 1) {
        pipeline = pipeline.flop();
      }
      const name = `photos/${concept}-${variant}.jpg`;
      await pipeline.jpeg({ quality: 90 }).toFile(path.join(folders.images, name));
      lines.push(JSON.stringify({ input_id: `${concept}-${variant}`, image: name, concepts: [concept] }));
    }
  }
  await writeFile(path.join(folders.labels, 'dataset.jsonl'), `${lines.join('\n')}\n`);
  const concepts = Object.keys(CONCEPT_PHOTOS).map((id) => ({ id, name: id }));
  await writeFile(path.join(folders.labels, 'concepts.json'), JSON.stringify(concepts));
  return folders;
}

/** Fixture photo pasted as the object of each concept of the detection dataset. */
export const DETECTION_PHOTOS: Record<string, string> = {
  cat: 'chelsea.jpg',
  coffee: 'coffee.jpg',
};
const DETECTION_CANVAS = 160;

/**
 * Writes VARIANTS_PER_CONCEPT images per concept: a crop of the text page as the background with
 * the concept's photo pasted at a different place and size each time, labelled with that box.
 */
export async function writeDetectionDataset(root: string): Promise<DatasetFolders> {
  const folders = { root, images: path.join(root, 'images'), labels: path.join(root, 'labels') };
  await mkdir(folders.images, { recursive: true });
  await mkdir(folders.labels, { recursive: true });

  const lines: string[] = [];
  for (const [concept, photo] of Object.entries(DETECTION_PHOTOS)) {
    for (let variant = 0; variant < VARIANTS_PER_CONCEPT; variant++) {
      const width = 60 + 5 * variant;
      const height = 50 + 4 * variant;
      const left = (variant * 37) % (DETECTION_CANVAS - width);
      const top = (variant * 23) % (DETECTION_CANVAS - height);
      const object = await sharp(path.join(FIXTURES, photo)).resize(width, height, { fit: 'fill' }).toBuffer();
      const name = `${concept}-${variant}.png`;
      await sharp(path.join(FIXTURES, 'page.png'))
        // page.png is 384 x 191 pixels.
        .extract({ left: variant * 25, top: variant * 4, width: DETECTION_CANVAS, height: DETECTION_CANVAS })
        .composite([{ input: object, left, top }])
        .png()
        .toFile(path.join(folders.images, name));
      const bbox = {
        top_row: top / DETECTION_CANVAS,
        left_col: left / DETECTION_CANVAS,
        bottom_row: (top + height) / DETECTION_CANVAS,
        right_col: (left + width) / DETECTION_CANVAS,
      };
      lines.push(JSON.stringify({ input_id: `${concept}-${variant}`, image: name, concepts: [concept], regions: [{ bbox, concepts: [concept] }] }));
    }
  }
  await writeFile(path.join(folders.labels, 'dataset.jsonl'), `${lines.join('\n')}\n`);
  const concepts = Object.keys(DETECTION_PHOTOS).map((id) => ({ id, name: id }));
  await writeFile(path.join(folders.labels, 'concepts.json'), JSON.stringify(concepts));
  return folders;
}

export interface TrainingRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  modelDir: string;
  outputDir: string;
  /** Contents of $SM_OUTPUT_DIR/failure, when the script wrote one. */
  failure?: string;
}

/** Processes started by these helpers that may still run; `stopAll` ends them by pid. */
const running = new Set<ChildProcess>();

/** Runs train.py on `dataset` with SM_MODEL_DIR and SM_OUTPUT_DIR inside `workDir`. */
export async function runTraining(
  dataset: DatasetFolders,
  workDir: string,
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<TrainingRun> {
  const modelDir = path.join(workDir, 'model');
  const outputDir = path.join(workDir, 'output');
  await mkdir(workDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SM_CHANNEL_IMAGES: dataset.images,
    SM_CHANNEL_LABELS: dataset.labels,
    SM_MODEL_DIR: modelDir,
    SM_OUTPUT_DIR: outputDir,
    SM_NUM_GPUS: '0',
    // One thread: with 2 on a 2-core machine shared with other test files, the detector run
    // measured 10 times slower (16 s instead of 2 s).
    OMP_NUM_THREADS: '1',
    ...extraEnv,
  };
  for (const [name, value] of Object.entries(extraEnv)) {
    if (value === undefined) {
      delete env[name];
    }
  }

  const child = spawn(PYTHON, [TRAIN_SCRIPT, ...args], { env, cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  running.delete(child);

  const failure = await readFile(path.join(outputDir, 'failure'), 'utf8').catch(() => undefined);
  return { exitCode, stdout, stderr, modelDir, outputDir, ...(failure === undefined ? {} : { failure }) };
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface ServingProcess {
  child: ChildProcess;
  url: string;
  logs(): string;
}

/** Starts server.ts on 127.0.0.1 as the contract describes, and waits until it accepts connections. */
export async function startServer(modelDir: string, extraEnv: Record<string, string> = {}): Promise<ServingProcess> {
  const port = await freePort();
  const child = spawn(NODE, ['--import', 'tsx', SERVER_SCRIPT], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      SM_MODEL_DIR: modelDir,
      SAGEMAKER_BIND_TO_PORT: String(port),
      SERVING_HOST: '127.0.0.1',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', () => running.delete(child));

  const server: ServingProcess = { child, url: `http://127.0.0.1:${port}`, logs: () => output };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`server.ts exited with code ${child.exitCode} before listening. Output:\n${output}`);
    }
    try {
      await fetch(`${server.url}/ping`);
      return server;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`server.ts did not listen on port ${port} within 30 s. Output:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Polls GET /ping until it returns 200. */
export async function waitForPing(server: ServingProcess, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${server.url}/ping`);
    if (response.status === 200) {
      return response;
    }
    if (Date.now() > deadline || server.child.exitCode !== null) {
      throw new Error(`GET /ping still returns ${response.status}. Server output:\n${server.logs()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sends SIGTERM to every process these helpers started that is still running, and waits for them. */
export async function stopAll(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
            resolve();
            return;
          }
          child.once('exit', () => resolve());
          process.kill(child.pid, 'SIGTERM');
        }),
    ),
  );
  running.clear();
}
