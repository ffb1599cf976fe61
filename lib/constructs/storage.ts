import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface StorageProps {
  /**
   * What CloudFormation does with the bucket and the table when they leave the stack.
   * `RETAIN` keeps the inputs and annotations; `DESTROY` fails on a bucket that still contains objects.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How long S3 keeps an object version after a newer one replaces it or it is deleted.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
}

/**
 * The bucket and the table of all apps. Images are stored under `uploads/`, model
 * artifacts under `models/`, the images of workflow results requests under
 * `workflow-runs/` and the objects workflow nodes derive (crops, embeddings) under `derived/`. The bucket is versioned because the ingest function
 * records the object version it processed to skip repeated S3 events. The table has
 * string keys `pk` and `sk` and stores inputs, annotations, concepts, models, workflows
 * and API keys.
 */
export class Storage extends Construct {
  /** Key prefix of input images. New objects under it start the default workflow. */
  public readonly uploadsPrefix = 'uploads/';

  /** Key prefix of model artifacts. */
  public readonly modelsPrefix = 'models/';

  /** Private, S3-encrypted, versioned bucket that rejects requests without TLS. */
  public readonly bucket: Bucket;

  /** On-demand table with point-in-time recovery. */
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      removalPolicy,
      lifecycleRules: [
        {
          noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        // The results route removes its images and their derived objects before it responds,
        // and these rules expire what a failed removal leaves behind.
        { prefix: 'workflow-runs/', expiration: Duration.days(1), noncurrentVersionExpiration: Duration.days(1) },
        { prefix: 'derived/workflow-runs/', expiration: Duration.days(1), noncurrentVersionExpiration: Duration.days(1) },
      ],
    });

    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
  }
}
