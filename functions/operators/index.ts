/** The operator registry: the code that runs each operator model type, by `model_type_id`. */
import type { OperatorRegistry } from '#commons/workflows/operator.ts';
import { annotationWriter } from './annotation-writer/operator.ts';
import { conceptSynonymMapper } from './concept-synonym-mapper/operator.ts';
import { conceptThresholder } from './concept-thresholder/operator.ts';
import { imageCrop } from './image-crop/operator.ts';
import { imageTiling } from './image-tiling/operator.ts';
import { inputFilter } from './input-filter/operator.ts';
import { objectCounter } from './object-counter/operator.ts';
import { randomSample } from './random-sample/operator.ts';
import { regionThresholder } from './region-thresholder/operator.ts';
import { resultsPush } from './results-push/operator.ts';
import { router } from './router/operator.ts';
import { tilingRegionAggregator } from './tiling-region-aggregator/operator.ts';

export const OPERATORS: OperatorRegistry = {
  'concept-thresholder': conceptThresholder,
  'region-thresholder': regionThresholder,
  'random-sample': randomSample,
  router,
  'image-crop': imageCrop,
  'concept-synonym-mapper': conceptSynonymMapper,
  'annotation-writer': annotationWriter,
  'object-counter': objectCounter,
  'input-filter': inputFilter,
  'image-tiling': imageTiling,
  'tiling-region-aggregator': tilingRegionAggregator,
  'results-push': resultsPush,
};
