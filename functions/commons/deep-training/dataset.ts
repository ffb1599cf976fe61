/**
 * Export of an app's labelled inputs as the training script's dataset. `dataset.jsonl` (one
 * labelled input per line) and `concepts.json` (the class order) go under the version's
 * `dataset/` prefix. A SageMaker ManifestFile lists the input images where they already are,
 * so no image is copied. A classifier's dataset contains the inputs' concept labels, and a
 * detector's dataset the labelled boxes of their region annotations.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { putObject } from '#commons/storage/images.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';
import { INPUT_SK_PREFIX, appPk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';
import { type LabelledInputRecord, positiveRegionsOf } from '#commons/storage/user-annotations.ts';
import { TRAINING_PREFIX } from '#commons/deep-training/settings.ts';

/**
 * Minimum number of inputs with a box of each concept in a detector's dataset: one for the
 * training split and one for the held-out split, as train.py checks.
 */
export const MIN_DETECTOR_INPUTS_PER_CONCEPT = 2;

/** One line of `dataset.jsonl`. */
export interface DatasetLine {
  input_id: string;
  /** Path of the image relative to the images channel folder: its object key. */
  image: string;
  /** Positive concepts of the whole image, in the order of `concepts.json`. */
  concepts: string[];
  /** Detectors only: the labelled boxes, as fractions of the image, with their positive concepts. */
  regions?: Array<{
    bbox: { top_row: number; left_col: number; bottom_row: number; right_col: number };
    concepts: string[];
  }>;
}

export interface TrainingDataset {
  concepts: Array<{ id: string; name: string }>;
  lines: DatasetLine[];
  /** The bucket every image is in; the manifest's prefix. */
  imagesBucket: string;
  /** Positive examples per concept id: labelled inputs for a classifier, labelled boxes for a detector. */
  positives: Record<string, number>;
}

/** Object keys of one version's training data and output. */
export interface TrainingKeys {
  datasetPrefix: string;
  datasetJsonl: string;
  conceptsJson: string;
  imagesManifest: string;
  outputPrefix: string;
}

export function trainingKeys(appId: string, modelId: string, versionId: string): TrainingKeys {
  const root = `${TRAINING_PREFIX}${appId}/${modelId}/${versionId}/`;
  return {
    datasetPrefix: `${root}dataset/`,
    datasetJsonl: `${root}dataset/dataset.jsonl`,
    conceptsJson: `${root}dataset/concepts.json`,
    imagesManifest: `${root}manifest/images.manifest`,
    outputPrefix: `${root}output/`,
  };
}

/**
 * Builds the dataset of a model from the app's inputs. For a classifier, an input takes part
 * when it has a positive label (value 1) of one of the model's concepts. For a detector, it
 * takes part when one of its region annotations has such a label. Inputs whose image failed
 * to download never take part. Throws `MODEL_TRAINING_NO_DATA` when no input takes part,
 * `MODEL_TRAINING_NO_POSITIVES` naming each classifier concept without a positive example,
 * `MODEL_TRAINING_TOO_FEW_REGIONS` naming each detector concept with boxes on fewer than 2
 * inputs, and `TRAINING_IMAGES_IN_SEVERAL_BUCKETS` when the images are not in one bucket.
 */
export function buildDataset(
  appId: string,
  modelId: string,
  concepts: ReadonlyArray<{ id: string; name: string }>,
  inputs: readonly InputRecord[],
  modelTypeId = 'visual-classifier',
): TrainingDataset {
  if (modelTypeId === 'visual-detector') {
    return buildDetectorDataset(appId, modelId, concepts, inputs);
  }
  const conceptIds = concepts.map((concept) => concept.id);
  const order = new Map(conceptIds.map((id, index) => [id, index]));
  const lines: DatasetLine[] = [];
  const buckets = new Set<string>();
  for (const input of inputs) {
    if (input.status.code === StatusCode.INPUT_DOWNLOAD_FAILED) {
      continue;
    }
    const positives = (input.concepts ?? [])
      .filter((label) => label.value === 1 && order.has(label.id))
      .map((label) => label.id)
      .sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
    if (positives.length === 0) {
      continue;
    }
    buckets.add(input.image.bucket);
    lines.push({ input_id: input.id, image: input.image.key, concepts: positives });
  }

  if (lines.length === 0) {
    throw new InvalidInputError(
      'MODEL_TRAINING_NO_DATA',
      `No input of app ${JSON.stringify(appId)} is labelled with a concept of model ${modelId} (${conceptIds.join(', ')}) with value 1. Label inputs with PATCH /v2/inputs, then train again.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const counts = Object.fromEntries(conceptIds.map((id) => [id, lines.filter((line) => line.concepts.includes(id)).length]));
  const missing = conceptIds.filter((id) => counts[id] === 0);
  if (missing.length > 0) {
    throw new InvalidInputError(
      'MODEL_TRAINING_NO_POSITIVES',
      `Concepts ${missing.map((id) => JSON.stringify(id)).join(', ')} of model ${modelId} have no positive example. Label at least one input with value 1 for each, then train again.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return {
    concepts: concepts.map((concept) => ({ id: concept.id, name: concept.name })),
    lines,
    imagesBucket: singleBucket(modelId, buckets),
    positives: counts,
  };
}

function buildDetectorDataset(
  appId: string,
  modelId: string,
  concepts: ReadonlyArray<{ id: string; name: string }>,
  inputs: readonly LabelledInputRecord[],
): TrainingDataset {
  const conceptIds = concepts.map((concept) => concept.id);
  const order = new Map(conceptIds.map((id, index) => [id, index]));
  const byOrder = (a: string, b: string): number => (order.get(a) ?? 0) - (order.get(b) ?? 0);
  const lines: DatasetLine[] = [];
  const buckets = new Set<string>();
  const boxes = Object.fromEntries(conceptIds.map((id) => [id, 0]));
  const inputCounts = Object.fromEntries(conceptIds.map((id) => [id, 0]));
  for (const input of inputs) {
    const regions = positiveRegionsOf(input, new Set(conceptIds));
    if (input.status.code === StatusCode.INPUT_DOWNLOAD_FAILED || regions.length === 0) {
      continue;
    }
    const present = new Set(regions.flatMap((region) => region.concepts));
    for (const region of regions) {
      for (const id of region.concepts) {
        boxes[id] = (boxes[id] ?? 0) + 1;
      }
    }
    for (const id of present) {
      inputCounts[id] = (inputCounts[id] ?? 0) + 1;
    }
    buckets.add(input.image.bucket);
    lines.push({
      input_id: input.id,
      image: input.image.key,
      concepts: [...present].sort(byOrder),
      regions: regions.map((region) => ({ bbox: region.bounding_box, concepts: [...region.concepts].sort(byOrder) })),
    });
  }

  if (lines.length === 0) {
    throw new InvalidInputError(
      'MODEL_TRAINING_NO_DATA',
      `No input of app ${JSON.stringify(appId)} has a box labelled with a concept of model ${modelId} (${conceptIds.join(', ')}) with value 1. Label boxes with POST /v2/annotations, then train again.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const few = conceptIds.filter((id) => (inputCounts[id] ?? 0) < MIN_DETECTOR_INPUTS_PER_CONCEPT);
  if (few.length > 0) {
    const listed = few.map((id) => `${JSON.stringify(id)} (${inputCounts[id] ?? 0})`).join(', ');
    throw new InvalidInputError(
      'MODEL_TRAINING_TOO_FEW_REGIONS',
      `Concepts ${listed} of model ${modelId} have labelled boxes on fewer than ${MIN_DETECTOR_INPUTS_PER_CONCEPT} inputs (the number in brackets). A detector needs boxes of each concept on at least ${MIN_DETECTOR_INPUTS_PER_CONCEPT} inputs, one to train on and one to evaluate on. Label more boxes with POST /v2/annotations, then train again.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return {
    concepts: concepts.map((concept) => ({ id: concept.id, name: concept.name })),
    lines,
    imagesBucket: singleBucket(modelId, buckets),
    positives: boxes,
  };
}

/** Returns the one bucket of the dataset's images, or throws `TRAINING_IMAGES_IN_SEVERAL_BUCKETS`. */
function singleBucket(modelId: string, buckets: ReadonlySet<string>): string {
  if (buckets.size > 1) {
    throw new InvalidInputError(
      'TRAINING_IMAGES_IN_SEVERAL_BUCKETS',
      `The labelled inputs of model ${modelId} are in the buckets ${[...buckets].join(', ')}, but a training job reads its images from one bucket. Label only inputs of one bucket with the model's concepts.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return [...buckets][0] as string;
}

/** Lists every input of the app with its region annotations (the dataset builder picks the labelled ones). */
export async function listAppInputs(appId: string): Promise<LabelledInputRecord[]> {
  return (await queryByPrefix(appPk(appId), INPUT_SK_PREFIX)) as unknown as LabelledInputRecord[];
}

/**
 * Returns the ManifestFile of the images channel: a prefix, then each image key relative to
 * it. SageMaker downloads each listed object to the same relative path in the channel folder.
 */
export function imagesManifest(dataset: TrainingDataset): unknown[] {
  const keys = [...new Set(dataset.lines.map((line) => line.image))];
  return [{ prefix: `s3://${dataset.imagesBucket}/` }, ...keys];
}

/** Writes `dataset.jsonl`, `concepts.json` and the images manifest into `bucket`. */
export async function writeDataset(bucket: string, keys: TrainingKeys, dataset: TrainingDataset): Promise<void> {
  const jsonl = dataset.lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
  await putObject({ bucket, key: keys.datasetJsonl }, Buffer.from(jsonl), 'application/jsonlines');
  await putObject({ bucket, key: keys.conceptsJson }, Buffer.from(JSON.stringify(dataset.concepts)), 'application/json');
  await putObject({ bucket, key: keys.imagesManifest }, Buffer.from(JSON.stringify(imagesManifest(dataset))), 'application/json');
}
