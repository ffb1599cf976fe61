/**
 * Conversions from stored records to the Clarifai v2 JSON that clients read.
 */
import type { AnnotationRecord } from '#commons/storage/annotations.ts';
import type { ConceptRecord, ConceptRelationRecord } from '#commons/storage/concepts.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';

export function toClarifaiInput(input: InputRecord): Record<string, unknown> {
  const { image } = input;
  const imageInfo =
    image.width === undefined ? undefined : { width: image.width, height: image.height, format: image.format };
  return {
    id: input.id,
    data: {
      image: { url: `s3://${image.bucket}/${image.key}`, image_info: imageInfo },
      metadata: input.metadata ?? {},
      concepts: (input.concepts ?? []).map((concept) => ({ ...concept, app_id: input.app_id })),
      geo: input.geo,
    },
    created_at: input.created_at,
    modified_at: input.modified_at,
    status: input.status,
  };
}

export function toClarifaiAnnotation(annotation: AnnotationRecord): Record<string, unknown> {
  return {
    id: annotation.id,
    input_id: annotation.input_id,
    data: annotation.data,
    model_version_id: annotation.model_version_id,
    worker: annotation.worker,
    status: annotation.status,
    created_at: annotation.created_at,
    modified_at: annotation.modified_at,
  };
}

export function toClarifaiConcept(concept: ConceptRecord): Record<string, unknown> {
  return {
    id: concept.id,
    name: concept.name,
    // Clarifai returns stored concepts with value 1.
    value: 1,
    language: concept.language,
    app_id: concept.app_id,
    created_at: concept.created_at,
    modified_at: concept.modified_at,
  };
}

/** Converts a concept's names to Clarifai's `concept_languages`, its own language first. */
export function toClarifaiConceptLanguages(concept: ConceptRecord): Array<Record<string, unknown>> {
  const languages = Object.entries(concept.languages).sort(([a], [b]) => {
    if (a === concept.language || b === concept.language) {
      return a === concept.language ? -1 : 1;
    }
    return a.localeCompare(b);
  });
  return languages.map(([id, entry]) => ({ id, name: entry.name, definition: entry.definition }));
}

/** Converts a relation, with the concepts of both ends read by the caller. */
export function toClarifaiConceptRelation(
  relation: ConceptRelationRecord,
  concepts: ReadonlyMap<string, ConceptRecord>,
): Record<string, unknown> {
  const conceptOf = (id: string): Record<string, unknown> => {
    const concept = concepts.get(id);
    return concept === undefined ? { id, app_id: relation.app_id } : toClarifaiConcept(concept);
  };
  return {
    id: relation.id,
    subject_concept: conceptOf(relation.subject_id),
    object_concept: conceptOf(relation.object_id),
    predicate: relation.predicate,
  };
}
