import { Fn, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnVectorBucket } from 'aws-cdk-lib/aws-s3vectors';
import { Construct } from 'constructs';
import type { PerceptFunction } from './percept-function.ts';

/** Names that the `SEARCH_BACKEND` variable accepts, as `functions/commons/search/select-backend.ts` reads it. */
export const SEARCH_BACKENDS = ['ivf', 's3-vectors'] as const;

export type SearchBackendName = (typeof SEARCH_BACKENDS)[number];

/** The CDK context key that chooses the search backend, e.g. `cdk deploy -c percept:searchBackend=s3-vectors`. */
export const SEARCH_BACKEND_CONTEXT_KEY = 'percept:searchBackend';

// S3 Vectors actions of the s3-vectors backend (functions/commons/search/backends/s3-vectors.ts),
// as listed in the Service Authorization Reference under "Amazon S3 Vectors". Index
// actions take the index ARN, `<vector bucket ARN>/index/<index name>`, and GetVectorBucket
// takes the bucket ARN.
const SEARCH_INDEX_ACTIONS = ['s3vectors:GetIndex', 's3vectors:QueryVectors'];
const INDEXING_INDEX_ACTIONS = ['s3vectors:GetIndex', 's3vectors:CreateIndex', 's3vectors:PutVectors', 's3vectors:DeleteVectors'];
const BUCKET_ACTIONS = ['s3vectors:GetVectorBucket'];

/** Raised at synth time for a search backend name that Percept does not have. */
export class InvalidSearchBackendError extends Error {
  public readonly code = 'INVALID_SEARCH_BACKEND';

  constructor(message: string) {
    super(message);
    this.name = 'InvalidSearchBackendError';
  }
}

export interface VectorSearchProps {
  /**
   * Search backend: `ivf`, the cluster index in the stack's table and bucket, or
   * `s3-vectors`, one Amazon S3 Vectors index per app in a vector bucket that this
   * construct creates.
   * @default 'ivf'
   */
  readonly backend?: string;

  /**
   * Name of the vector bucket: 3 to 63 lowercase letters, digits and `-`, unique in the
   * account and Region. Only used with the `s3-vectors` backend.
   * @default - a name that CloudFormation generates
   */
  readonly vectorBucketName?: string;

  /**
   * Removal policy of the vector bucket when it leaves the stack. `RETAIN` keeps the
   * vectors, and `DESTROY` fails while the bucket still contains indexes.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The search backend of the functions that search or index vectors. With `s3-vectors` it
 * creates the vector bucket, and `bindSearch` and `bindIndexing` grant the S3 Vectors
 * actions on that bucket and its indexes only. With `ivf` the two methods only set
 * `SEARCH_BACKEND`.
 */
export class VectorSearch extends Construct {
  /** The backend that the bound functions use. */
  public readonly backend: SearchBackendName;

  /** The vector bucket, when the backend is `s3-vectors`. */
  public readonly vectorBucket?: CfnVectorBucket;

  /** Name of the vector bucket, when the backend is `s3-vectors`. */
  public readonly vectorBucketName?: string;

  /** ARN of the vector bucket, when the backend is `s3-vectors`. */
  public readonly vectorBucketArn?: string;

  constructor(scope: Construct, id: string, props: VectorSearchProps = {}) {
    super(scope, id);

    const backend = props.backend ?? 'ivf';
    if (!(SEARCH_BACKENDS as readonly string[]).includes(backend)) {
      throw new InvalidSearchBackendError(
        `Search backend ${JSON.stringify(backend)} is unknown. Set ${SEARCH_BACKEND_CONTEXT_KEY} to one of ${SEARCH_BACKENDS.join(', ')}.`,
      );
    }
    this.backend = backend as SearchBackendName;
    if (this.backend !== 's3-vectors') {
      return;
    }

    this.vectorBucket = new CfnVectorBucket(this, 'VectorBucket', { vectorBucketName: props.vectorBucketName });
    this.vectorBucket.applyRemovalPolicy(props.removalPolicy ?? RemovalPolicy.RETAIN);
    // CloudFormation returns a vector bucket's ARN, `arn:<partition>:s3vectors:<region>:<account>:bucket/<name>`,
    // but no name attribute, so a generated name is cut out of the ARN.
    this.vectorBucketArn = this.vectorBucket.attrVectorBucketArn;
    this.vectorBucketName = props.vectorBucketName ?? Fn.select(1, Fn.split('/', this.vectorBucketArn));
  }

  /** Sets the backend variables and lets `fn` query the indexes of the vector bucket. */
  public bindSearch(fn: PerceptFunction): void {
    this.bind(fn, SEARCH_INDEX_ACTIONS);
  }

  /** Sets the backend variables and lets `fn` create indexes and put and delete vectors in them. */
  public bindIndexing(fn: PerceptFunction): void {
    this.bind(fn, INDEXING_INDEX_ACTIONS);
  }

  private bind(fn: PerceptFunction, indexActions: readonly string[]): void {
    fn.addEnvironment('SEARCH_BACKEND', this.backend);
    if (this.vectorBucketName === undefined || this.vectorBucketArn === undefined) {
      return;
    }
    fn.addEnvironment('VECTOR_BUCKET_NAME', this.vectorBucketName);
    fn.addToRolePolicy(new PolicyStatement({ actions: [...indexActions], resources: [`${this.vectorBucketArn}/index/*`] }));
    fn.addToRolePolicy(new PolicyStatement({ actions: BUCKET_ACTIONS, resources: [this.vectorBucketArn] }));
  }
}
