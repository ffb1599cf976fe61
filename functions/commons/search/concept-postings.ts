/**
 * Predicted concepts of an app's inputs, for ranking by concept. Each annotation that
 * predicts a concept adds one item to the partition of that concept, with a sort key that
 * orders the highest value first, so a search reads only as far as it needs:
 *
 * | pk                                | sk                                             |
 * | --------------------------------- | ---------------------------------------------- |
 * | PREDICTED#<app_id>#<concept id>   | <1 - value, 6 decimals>#<input_id>#<annotation_id> |
 *
 * The concept id is escaped with `conceptKeyPart`. The key is computed from the annotation
 * alone, so deleting an input's annotations deletes exactly the items they added.
 */
import type { OutputData } from '#commons/clarifai/types.ts';
import { batchWriteItems, forEachPage } from '#commons/search/dynamo-batch.ts';
import type { AnnotationRecord } from '#commons/storage/annotations.ts';
import { conceptKeyPart } from '#commons/storage/keys.ts';

export const predictedPk = (appId: string, conceptId: string): string => `PREDICTED#${appId}#${conceptKeyPart(conceptId)}`;

export interface ConceptPosting {
  conceptId: string;
  inputId: string;
  annotationId: string;
  /** The highest value of the concept in the annotation: on the whole image or in any region. */
  value: number;
}

/** Returns each concept's highest value in the annotation, over its concepts and its regions' concepts. */
export function postingsOf(annotation: Pick<AnnotationRecord, 'id' | 'input_id' | 'data'>): ConceptPosting[] {
  const best = new Map<string, number>();
  const add = (concepts: OutputData['concepts']): void => {
    for (const concept of concepts ?? []) {
      if (Number.isFinite(concept.value) && concept.value > (best.get(concept.id) ?? -Infinity)) {
        best.set(concept.id, concept.value);
      }
    }
  };
  add(annotation.data.concepts);
  for (const region of annotation.data.regions ?? []) {
    add(region.data?.concepts);
  }
  return [...best].map(([conceptId, value]) => ({
    conceptId,
    inputId: annotation.input_id,
    annotationId: annotation.id,
    value: Math.min(1, Math.max(0, value)),
  }));
}

function postingSk(posting: ConceptPosting): string {
  return `${(1 - posting.value).toFixed(6)}#${posting.inputId}#${posting.annotationId}`;
}

export async function putPostings(appId: string, postings: readonly ConceptPosting[]): Promise<void> {
  await batchWriteItems(
    postings.map((posting) => ({
      PutRequest: {
        Item: {
          pk: predictedPk(appId, posting.conceptId),
          sk: postingSk(posting),
          input_id: posting.inputId,
          annotation_id: posting.annotationId,
          value: posting.value,
        },
      },
    })),
  );
}

export async function deletePostings(appId: string, postings: readonly ConceptPosting[]): Promise<void> {
  await batchWriteItems(
    postings.map((posting) => ({ DeleteRequest: { Key: { pk: predictedPk(appId, posting.conceptId), sk: postingSk(posting) } } })),
  );
}

/**
 * Calls `onPage` with the postings of a concept, highest value first, page by page, until it
 * returns false or the postings end.
 */
export async function forEachPostingPage(
  appId: string,
  conceptId: string,
  onPage: (postings: ConceptPosting[]) => boolean | Promise<boolean>,
): Promise<void> {
  await forEachPage(predictedPk(appId, conceptId), (items) =>
    onPage(
      items.map((item) => ({
        conceptId,
        inputId: item.input_id as string,
        annotationId: item.annotation_id as string,
        value: item.value as number,
      })),
    ),
  );
}
