/**
 * Reading a finished training job's `model.tar.gz`: the training script writes `model.onnx`,
 * `manifest.json` and `metrics.json` into SM_MODEL_DIR, which SageMaker packs into that file.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Parser, type ReadEntry } from 'tar';
import { s3Client } from '#commons/aws/clients.ts';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';

export interface ModelArtifacts {
  metrics: ClassifierMetrics;
  manifest: Record<string, unknown>;
}

/** Splits an `s3://bucket/key` URI. Throws an `Error` naming the value for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (match === null) {
    throw new Error(`${JSON.stringify(uri)} is not an s3://bucket/key URI.`);
  }
  return { bucket: match[1] as string, key: match[2] as string };
}

/** Returns the named members of a tar or tar.gz archive (names without a leading `./`); absent members are left out. */
export async function readTarMembers(archive: Uint8Array, names: readonly string[]): Promise<Map<string, Buffer>> {
  const wanted = new Set(names);
  const found = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const name = entry.path.replace(/^\.\//, '');
        if (!wanted.has(name)) {
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => found.set(name, Buffer.concat(chunks)));
      },
    });
    parser.on('end', () => resolve());
    parser.on('error', reject);
    parser.end(Buffer.from(archive));
  });
  return found;
}

/**
 * Downloads `model.tar.gz` and returns its metrics and manifest. Throws an `Error` naming
 * the archive when either file is missing or not JSON, or when the metrics lack the fields
 * of `ClassifierMetrics`.
 */
export async function readModelArtifacts(modelDataUrl: string): Promise<ModelArtifacts> {
  const { bucket, key } = parseS3Uri(modelDataUrl);
  const response = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const archive = (await response.Body?.transformToByteArray()) ?? new Uint8Array();
  const members = await readTarMembers(archive, ['metrics.json', 'manifest.json']);

  const parse = (name: string): Record<string, unknown> => {
    const bytes = members.get(name);
    if (bytes === undefined) {
      throw new Error(`${modelDataUrl} has no ${name}; the training script must write it into SM_MODEL_DIR.`);
    }
    try {
      return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`${name} in ${modelDataUrl} is not valid JSON: ${(error as Error).message}`);
    }
  };
  const metrics = parse('metrics.json');
  for (const field of ['per_concept', 'macro', 'top1_accuracy', 'confusion_matrix']) {
    if (metrics[field] === undefined) {
      throw new Error(`metrics.json in ${modelDataUrl} has no "${field}", so it is not in the shape of ClassifierMetrics.`);
    }
  }
  return { metrics: metrics as unknown as ClassifierMetrics, manifest: parse('manifest.json') };
}
