import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ModelTypeId } from '#commons/clarifai/types.ts';
import { PerceptFunction } from './percept-function.ts';
import type { RuntimeLayer } from './runtime-layer.ts';
import type { Storage } from './storage.ts';

export interface ModelFunctionsProps {
  /** Bucket the input images are read from, and table the models are read from. */
  readonly storage: Storage;

  /** Layer with onnxruntime-node, sharp and the built models. */
  readonly runtimeLayer: RuntimeLayer;

  /**
   * Memory of each model function in MB. Inference time shrinks as Lambda adds CPU with memory.
   * @default 3008
   */
  readonly memorySize?: number;

  /**
   * Maximum run time of one prediction, a cold start (model load) included.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
}

/**
 * One Lambda function per model type, which the workflow invokes with an input and a
 * model id. Each reads images and model artifacts from the bucket and model records
 * from the table, and writes nothing: the workflow stores their outputs.
 */
export class ModelFunctions extends Construct {
  /** Runs `visual-classifier` models. */
  public readonly visualClassifier: PerceptFunction;

  /** Runs `visual-detector` models. */
  public readonly visualDetector: PerceptFunction;

  /** Runs `visual-embedder` models. */
  public readonly visualEmbedder: PerceptFunction;

  /** The three functions, by model type. */
  public readonly byModelType: Readonly<Record<ModelTypeId, PerceptFunction>>;

  constructor(scope: Construct, id: string, props: ModelFunctionsProps) {
    super(scope, id);

    const create = (modelTypeId: ModelTypeId, functionId: string): PerceptFunction => {
      const modelFunction = new PerceptFunction(this, functionId, {
        entry: `models/${modelTypeId}/handler.ts`,
        description: `Runs ${modelTypeId} models on one input image.`,
        memorySize: props.memorySize ?? 3008,
        timeout: props.timeout ?? Duration.seconds(60),
      });
      modelFunction.useRuntimeLayer(props.runtimeLayer);
      modelFunction.useBucket(props.storage.bucket, 'read', [props.storage.uploadsPrefix, props.storage.modelsPrefix]);
      modelFunction.useTable(props.storage.table, 'read');
      return modelFunction;
    };

    this.visualClassifier = create('visual-classifier', 'VisualClassifier');
    this.visualDetector = create('visual-detector', 'VisualDetector');
    this.visualEmbedder = create('visual-embedder', 'VisualEmbedder');
    this.byModelType = {
      'visual-classifier': this.visualClassifier,
      'visual-detector': this.visualDetector,
      'visual-embedder': this.visualEmbedder,
    };
  }
}
