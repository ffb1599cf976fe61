/**
 * User annotations: the labels a user gives an input, as opposed to the annotations a model
 * writes (`annotations.ts`). Both kinds of user label live in the input's own item:
 *
 * - the input-level annotation is the input's `concepts` (labels of the whole image, set by
 *   `POST /v2/inputs`, `PATCH /v2/inputs` or `POST /v2/annotations`). Its id is derived from
 *   the input id, so it needs no item of its own;
 * - each region annotation (one labelled bounding box) is an entry of `region_annotations`.
 *
 * Because they live in the input's item, one read returns every user label of an input to the
 * embedding classifier, search by concept and deep training. Deleting the input deletes its
 * labels, and the input's `version` counter orders all label changes.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { BoundingBox, Status } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { type InputConcept, type InputRecord, getInput } from '#commons/storage/inputs.ts';
import { INPUT_SK_PREFIX, appPk, inputSk } from '#commons/storage/keys.ts';
import { queryPages } from '#commons/storage/query.ts';

/**
 * Maximum region annotations per input. NOTE: an estimate that keeps the input's item well
 * under DynamoDB's 400 KB item limit: a box with two concept labels takes about 300 bytes.
 */
export const MAX_REGION_ANNOTATIONS = 500;

/** One labelled bounding box of an input: a region annotation. */
export interface RegionAnnotationRecord {
  id: string;
  region_id: string;
  /** Fractions of the image height (rows) and width (cols), from 0 to 1, top-left origin. */
  bounding_box: BoundingBox;
  concepts: InputConcept[];
  created_at: string;
  modified_at: string;
}

/** An input item with its region annotations, which `InputRecord` leaves out. */
export interface LabelledInputRecord extends InputRecord {
  region_annotations?: RegionAnnotationRecord[];
}

/** The user labels of an input that `updateUserLabels` replaces. */
export interface UserLabels {
  concepts?: InputConcept[];
  regionAnnotations: RegionAnnotationRecord[];
}

const ANNOTATION_SUCCESS: Status = { code: StatusCode.ANNOTATION_SUCCESS, description: 'Annotation success' };

/** Returns the id of an input's input-level annotation: the first 32 hex digits of a SHA-256 of the input id. */
export function inputLevelAnnotationId(inputId: string): string {
  return createHash('sha256').update(`input-level\n${inputId}`).digest('hex').slice(0, 32);
}

/** Returns the input-level annotation in Clarifai's shape: the input's concept labels. */
export function toClarifaiInputLevelAnnotation(input: InputRecord): Record<string, unknown> {
  return {
    id: inputLevelAnnotationId(input.id),
    input_id: input.id,
    data: { concepts: conceptsWithApp(input.concepts ?? [], input.app_id) },
    status: ANNOTATION_SUCCESS,
    created_at: input.created_at,
    modified_at: input.modified_at,
  };
}

/** Returns a region annotation in Clarifai's shape: one region with its box and concept labels. */
export function toClarifaiRegionAnnotation(input: InputRecord, annotation: RegionAnnotationRecord): Record<string, unknown> {
  return {
    id: annotation.id,
    input_id: input.id,
    data: {
      regions: [
        {
          id: annotation.region_id,
          region_info: { bounding_box: annotation.bounding_box },
          data: { concepts: conceptsWithApp(annotation.concepts, input.app_id) },
        },
      ],
    },
    status: ANNOTATION_SUCCESS,
    created_at: annotation.created_at,
    modified_at: annotation.modified_at,
  };
}

/**
 * Returns the user annotations of an input in Clarifai's shape: the input-level one first
 * when the input has concept labels, then the region annotations in creation order.
 */
export function toClarifaiUserAnnotations(input: LabelledInputRecord): Array<Record<string, unknown>> {
  const regions = (input.region_annotations ?? []).map((annotation) => toClarifaiRegionAnnotation(input, annotation));
  return (input.concepts ?? []).length === 0 ? regions : [toClarifaiInputLevelAnnotation(input), ...regions];
}

function conceptsWithApp(concepts: readonly InputConcept[], appId: string): Array<Record<string, unknown>> {
  return concepts.map((concept) => ({ ...concept, app_id: appId }));
}

/** Returns the input with its region annotations, or throws `INPUT_NOT_FOUND`. */
export async function getLabelledInput(appId: string, inputId: string): Promise<LabelledInputRecord> {
  return (await getInput(appId, inputId)) as LabelledInputRecord;
}

/** Yields an app's inputs in id order, one DynamoDB page of up to 100 inputs at a time. */
export async function* labelledInputPages(appId: string): AsyncGenerator<LabelledInputRecord[]> {
  for await (const items of queryPages(appPk(appId), { prefix: INPUT_SK_PREFIX, pageSize: 100 })) {
    yield items.map(({ pk: _pk, sk: _sk, ...record }) => record as unknown as LabelledInputRecord);
  }
}

// Each failed attempt means that another writer changed the input's labels in between; the
// margin covers writers that join later, as in `updateInputData`.
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * Replaces an input's concept labels and region annotations with what `change` computes from
 * the stored input. The write is conditional on the input's `version`, which
 * `PATCH /v2/inputs` also increments, so concurrent label changes are applied one after the
 * other and none is lost. `change` may throw to reject the update. Throws `INPUT_NOT_FOUND`
 * for an unknown input and `INPUT_UPDATE_CONFLICT` after 50 conflicts in a row.
 */
export async function updateUserLabels(
  appId: string,
  inputId: string,
  change: (input: LabelledInputRecord) => UserLabels,
): Promise<LabelledInputRecord> {
  for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt += 1) {
    const input = await getLabelledInput(appId, inputId);
    const labels = change(input);
    const version = input.version ?? 0;

    const names: Record<string, string> = {
      '#version': 'version',
      '#modified': 'modified_at',
      '#concepts': 'concepts',
      '#regions': 'region_annotations',
    };
    const values: Record<string, unknown> = {
      ':next': version + 1,
      ':now': new Date().toISOString(),
      ':version': version,
      ':regions': labels.regionAnnotations,
    };
    const assignments = ['#version = :next', '#modified = :now', '#regions = :regions'];
    let removal = '';
    if (labels.concepts === undefined) {
      removal = ' REMOVE #concepts';
    } else {
      values[':concepts'] = labels.concepts;
      assignments.push('#concepts = :concepts');
    }
    // Inputs written before versions existed have no version attribute: they count as 0.
    const condition =
      version === 0
        ? 'attribute_exists(pk) AND (attribute_not_exists(#version) OR #version = :version)'
        : 'attribute_exists(pk) AND #version = :version';

    try {
      const { Attributes } = await documentClient().send(
        new UpdateCommand({
          TableName: config.tableName,
          Key: { pk: appPk(appId), sk: inputSk(inputId) },
          UpdateExpression: `SET ${assignments.join(', ')}${removal}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { pk: _pk, sk: _sk, ...record } = Attributes ?? {};
      return record as unknown as LabelledInputRecord;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
      logger.info('input label update conflict, retrying', { appId, inputId, attempt, version });
      // Random backoff, so that writers that collided do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(10 * attempt, 200)));
    }
  }
  throw new PerceptError(
    `Input ${JSON.stringify(inputId)} was changed by other requests ${MAX_UPDATE_ATTEMPTS} times while its annotations were updated. Send the request again.`,
    { code: 'INPUT_UPDATE_CONFLICT', statusCode: StatusCode.FAILURE, httpStatus: 409 },
  );
}

/** A positive region label: a box and the ids of the concepts labelled 1 on it. */
export interface PositiveRegion {
  bounding_box: BoundingBox;
  concepts: string[];
}

/** Returns the input's boxes that have a label of value 1 for one of `conceptIds`, with only those concepts. */
export function positiveRegionsOf(input: LabelledInputRecord, conceptIds: ReadonlySet<string>): PositiveRegion[] {
  return (input.region_annotations ?? []).flatMap((annotation) => {
    const concepts = annotation.concepts.filter((label) => label.value === 1 && conceptIds.has(label.id)).map((label) => label.id);
    return concepts.length === 0 ? [] : [{ bounding_box: annotation.bounding_box, concepts }];
  });
}
