import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import path from 'node:path';
import { PROJECT_ROOT, functionEntry } from '../project.ts';
import type { RuntimeLayer } from './runtime-layer.ts';

/**
 * Native packages that the runtime layer provides. Function bundles leave them as
 * imports, and Node.js resolves them from `/opt/nodejs/node_modules` at run time.
 */
export const LAYER_PROVIDED_MODULES = ['onnxruntime-node', 'sharp'] as const;

// esbuild turns `require()` calls of bundled CommonJS packages into a helper that throws
// in an ES module unless a `require` function is in scope.
const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** Access level of a grant made by `useTable` or `useBucket`. */
export type Access = 'read' | 'readWrite';

export interface PerceptFunctionProps {
  /** Handler module relative to `functions/`, e.g. `ingest/handler.ts`. It must export `handler`. */
  readonly entry: string;

  /**
   * Description shown in the Lambda console.
   * @default - no description
   */
  readonly description?: string;

  /**
   * Memory in MB. Lambda scales CPU with it.
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * Maximum run time of one invocation.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;

  /**
   * How long the function's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * A Percept handler on Lambda: Node.js 24 on x86_64, bundled by the local esbuild into
 * one ES module with a source map, JSON logs into its own log group (`logGroup`), and X-Ray tracing.
 * The AWS SDK v3 is bundled rather than taken from the runtime, so the deployed code runs
 * the SDK version that the tests ran. The `use*` methods set an environment variable
 * together with the grant it needs.
 */
export class PerceptFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: PerceptFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });

    super(scope, id, {
      entry: functionEntry(props.entry),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.X86_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: Tracing.ACTIVE,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        // Error classes report `name` from their constructor, which minification would rename.
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: [...LAYER_PROVIDED_MODULES],
        bundleAwsSDK: true,
      },
    });
  }

  /** Sets `TABLE_NAME` and grants `access` on the table. */
  public useTable(table: ITable, access: Access): this {
    this.addEnvironment('TABLE_NAME', table.tableName);
    if (access === 'read') {
      table.grantReadData(this);
    } else {
      table.grantReadWriteData(this);
    }
    return this;
  }

  /**
   * Sets `BUCKET_NAME` and grants `access` on the objects under each key prefix.
   * Reading also allows listing the bucket, and `readWrite` includes deleting objects.
   */
  public useBucket(bucket: IBucket, access: Access, prefixes: readonly string[]): this {
    this.addEnvironment('BUCKET_NAME', bucket.bucketName);
    for (const prefix of prefixes) {
      if (access === 'read') {
        bucket.grantRead(this, `${prefix}*`);
      } else {
        bucket.grantReadWrite(this, `${prefix}*`);
      }
    }
    return this;
  }

  /** Adds the runtime layer (native packages and built models) and sets `MODEL_DIR`. */
  public useRuntimeLayer(runtimeLayer: RuntimeLayer): this {
    this.addLayers(runtimeLayer.layerVersion);
    this.addEnvironment('MODEL_DIR', runtimeLayer.modelDir);
    return this;
  }
}
