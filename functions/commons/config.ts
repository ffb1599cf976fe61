/**
 * Settings every handler reads from its environment. CDK sets them on AWS; the local
 * stack sets the same variables, so handlers never know where they run.
 */
import path from 'node:path';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is missing. Set it in the CDK construct or the local stack.`);
  }
  return value;
}

export const config = {
  get tableName(): string {
    return requireEnv('TABLE_NAME');
  },
  get bucketName(): string {
    return requireEnv('BUCKET_NAME');
  },
  /** Key prefix whose new objects start the default workflow. */
  get uploadsPrefix(): string {
    return process.env.UPLOADS_PREFIX ?? 'uploads/';
  },
  /** Folder holding one sub-folder per built model (`model.onnx` plus `manifest.json`). */
  get modelDir(): string {
    return process.env.MODEL_DIR ?? path.resolve('.cache/models');
  },
  get defaultWorkflowArn(): string {
    return requireEnv('DEFAULT_WORKFLOW_ARN');
  },
  /** True when S3 must be addressed path-style, as s3rver requires. */
  get s3ForcePathStyle(): boolean {
    return process.env.S3_FORCE_PATH_STYLE === 'true';
  },
};
