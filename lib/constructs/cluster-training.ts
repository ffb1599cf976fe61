import { Duration } from 'aws-cdk-lib';
import { type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { clusterTrainingPattern } from '../../functions/commons/cluster/training-events.ts';
import { PerceptFunction } from './percept-function.ts';
import type { Storage } from './storage.ts';

export interface ClusterTrainingProps {
  /** Table of the model versions and the search index, and bucket of the cluster models under `models/`. */
  readonly storage: Storage;

  /** Bus that the API puts "Clusterer Version Queued" events on. */
  readonly eventBus: IEventBus;

  /**
   * Memory of the training function in MB. Lambda scales CPU with it, and the index build
   * keeps the codes and ids of all the app's vectors in memory at once.
   * @default 3008
   */
  readonly memorySize?: number;

  /**
   * How long the training function's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * Trains clusterer versions off the API request. `POST /v2/models/{id}/versions` of a
 * clusterer stores the version as queued and puts a "Clusterer Version Queued" event on the
 * bus. A rule sends it to the training function, which runs k-means, builds the search
 * index's lists and stores the outcome, with Lambda's longest timeout of 15 minutes.
 * `bindApi` lets the API function put the event.
 */
export class ClusterTraining extends Construct {
  /** Trains one queued version per event (functions/cluster/train-version/handler.ts). */
  public readonly trainFunction: PerceptFunction;

  /** Sends "Clusterer Version Queued" events of the bus to `trainFunction`. */
  public readonly queuedVersionRule: Rule;

  private readonly eventBus: IEventBus;

  constructor(scope: Construct, id: string, props: ClusterTrainingProps) {
    super(scope, id);
    this.eventBus = props.eventBus;
    const { bucket, table, modelsPrefix } = props.storage;

    // The function writes the version's model and list snapshots under `models/` and deletes
    // the lists of the version it replaces.
    this.trainFunction = new PerceptFunction(this, 'TrainVersionFunction', {
      entry: 'cluster/train-version/handler.ts',
      description: 'Trains a queued clusterer version (k-means) and builds its search index lists.',
      memorySize: props.memorySize ?? 3008,
      timeout: Duration.minutes(15),
      logRetention: props.logRetention,
    })
      .useTable(table, 'readWrite')
      .useBucket(bucket, 'readWrite', [modelsPrefix]);

    const pattern = clusterTrainingPattern();
    this.queuedVersionRule = new Rule(this, 'QueuedVersionRule', {
      eventBus: this.eventBus,
      description: 'Sends queued clusterer versions to the clusterer training function.',
      eventPattern: { source: pattern.source, detailType: pattern['detail-type'] },
      targets: [new LambdaFunction(this.trainFunction, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });
  }

  /** Sets `EVENT_BUS_NAME` on the API function and lets it put events on the bus. */
  public bindApi(apiFunction: PerceptFunction): void {
    apiFunction.addEnvironment('EVENT_BUS_NAME', this.eventBus.eventBusName);
    this.eventBus.grantPutEventsTo(apiFunction);
  }
}
