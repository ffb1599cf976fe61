/**
 * Keeps the search index in step with the annotations: a stored image embedding goes into the
 * vector backend and predicted concepts into the concept postings, and deleting an input
 * takes both out again.
 */
import { logger } from '#commons/logger.ts';
import { deletePostings, postingsOf, putPostings } from '#commons/search/concept-postings.ts';
import { searchBackend } from '#commons/search/select-backend.ts';
import { type AnnotationRecord, listAnnotations } from '#commons/storage/annotations.ts';

/**
 * The embedding model whose vectors the search index holds. The default workflow runs it on
 * every input, and searches by image embed the query image with it.
 */
export const SEARCH_EMBEDDING_MODEL_ID = 'general-image-embedding';

/** Returns the L2-normalized copy of `values`, so that dot products are cosine similarities. */
export function unitVector(values: readonly number[]): Float32Array {
  const vector = Float32Array.from(values);
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  if (norm > 0) {
    for (let index = 0; index < vector.length; index += 1) {
      vector[index] = (vector[index] as number) / norm;
    }
  }
  return vector;
}

/** Returns the whole-image vector of an annotation by the search embedding model, if it is one. */
export function searchVectorOf(annotation: Pick<AnnotationRecord, 'worker' | 'data'>): Float32Array | undefined {
  if (annotation.worker.model.id !== SEARCH_EMBEDDING_MODEL_ID) {
    return undefined;
  }
  const values = annotation.data.embeddings?.[0]?.vector;
  return values === undefined || values.length === 0 ? undefined : unitVector(values);
}

/**
 * Indexes the annotations a workflow stored on one input. Writing the same annotations again
 * writes the same items, so a retried task changes nothing.
 */
export async function indexAnnotations(appId: string, inputId: string, annotations: readonly AnnotationRecord[]): Promise<void> {
  const vectors = annotations.flatMap((annotation) => {
    const vector = searchVectorOf(annotation);
    return vector === undefined ? [] : [vector];
  });
  const postings = annotations.flatMap(postingsOf);

  await putPostings(appId, postings);
  const vector = vectors.at(-1);
  if (vector !== undefined) {
    await searchBackend().upsert(appId, [{ inputId, vector }]);
  }
  logger.info('input indexed for search', { appId, inputId, vectorIndexed: vector !== undefined, predictedConcepts: postings.length });
}

/** Removes an input's vector and predicted concepts from the index; call it before its annotations are deleted. */
export async function unindexInput(appId: string, inputId: string): Promise<void> {
  const annotations = await listAnnotations(appId, inputId);
  await searchBackend().remove(appId, [inputId]);
  await deletePostings(appId, annotations.flatMap(postingsOf));
  logger.info('input removed from search', { appId, inputId });
}
