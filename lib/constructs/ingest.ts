import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { PerceptFunction } from './percept-function.ts';
import type { Storage } from './storage.ts';

export interface IngestProps {
  /** Bucket whose new objects under `storage.uploadsPrefix` are ingested, and table of the inputs. */
  readonly storage: Storage;

  /** Workflow started once for each new object version. */
  readonly workflow: IStateMachine;

  /**
   * Names of other buckets whose new objects under the uploads prefix are ingested too.
   * Each must send its events to EventBridge (S3 "EventBridge notifications" on); a rule on
   * the default bus forwards their "Object Created" events to the ingest function. The
   * model and operator functions also need read access to them.
   * @default - no other buckets, and no rule
   */
  readonly externalUploadBuckets?: readonly string[];
}

/**
 * Starts the default workflow for each image stored under the uploads prefix. S3 sends
 * `ObjectCreated` events straight to the ingest function, which records the input and
 * starts one execution per object version. Other buckets can feed it through EventBridge.
 */
export class Ingest extends Construct {
  /** Handles the S3 events. */
  public readonly ingestFunction: PerceptFunction;

  /** Forwards "Object Created" events of `externalUploadBuckets`; undefined without them. */
  public readonly externalUploadsRule: Rule | undefined;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);

    const { bucket, table, uploadsPrefix } = props.storage;

    this.ingestFunction = new PerceptFunction(this, 'Function', {
      entry: 'ingest/handler.ts',
      description: 'Records each new upload as an input and starts the default workflow on it.',
    }).useTable(table, 'readWrite');

    this.ingestFunction.addEnvironment('UPLOADS_PREFIX', uploadsPrefix);

    this.ingestFunction.addEnvironment('DEFAULT_WORKFLOW_ARN', props.workflow.stateMachineArn);
    props.workflow.grantStartExecution(this.ingestFunction);

    bucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(this.ingestFunction), {
      prefix: uploadsPrefix,
    });

    const external = props.externalUploadBuckets ?? [];
    this.externalUploadsRule =
      external.length === 0
        ? undefined
        : new Rule(this, 'ExternalUploadsRule', {
            description: 'Ingests images uploaded to other buckets, from their S3 events on EventBridge.',
            eventPattern: {
              source: ['aws.s3'],
              detailType: ['Object Created'],
              detail: { bucket: { name: [...external] }, object: { key: [{ prefix: uploadsPrefix }] } },
            },
            targets: [new LambdaFunction(this.ingestFunction, { retryAttempts: 2 })],
          });
  }
}
