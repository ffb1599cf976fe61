/**
 * Concept routes: create, list, read, rename and search an app's concepts, add their names in
 * other languages, and link them with `synonym`, `hypernym` and `hyponym` relations.
 */
import {
  toClarifaiConcept,
  toClarifaiConceptLanguages,
  toClarifaiConceptRelation,
} from '#commons/clarifai/resources.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import {
  type ConceptRecord,
  DEFAULT_LANGUAGE,
  RELATION_PREDICATES,
  type RelationPredicate,
  addConceptLanguages,
  conceptNotFound,
  createConceptRelations,
  createConcepts,
  deleteConceptRelations,
  findConcepts,
  getConcept,
  listConceptRelations,
  listConcepts,
  newConceptRecord,
  renameConcept,
  searchConcepts,
  validateConceptId,
  validateConceptName,
  validateLanguage,
} from '#commons/storage/concepts.ts';

/** At most this many concepts, languages, relations or relation ids in one request. */
export const MAX_CONCEPTS_PER_REQUEST = 128;

export async function createConceptsRoute(request: ApiRequest): Promise<unknown> {
  const entries = arrayField(request.body, 'concepts', '{"concepts": [{"id": "cat", "name": "Cat"}]}');
  const seenIds = new Set<string>();
  const records: ConceptRecord[] = [];
  for (const [index, entry] of entries.entries()) {
    const { id: rawId, name, language } = (entry ?? {}) as { id?: unknown; name?: unknown; language?: unknown };
    const id = validateConceptId(rawId, `concepts[${index}].id`);
    if (seenIds.has(id)) {
      throw duplicateInRequest(`concepts[${index}].id`, id);
    }
    seenIds.add(id);
    records.push(
      newConceptRecord(
        request.appId,
        id,
        name === undefined || name === '' ? id : validateConceptName(name, `concepts[${index}].name`),
        language === undefined || language === '' ? DEFAULT_LANGUAGE : validateLanguage(language, `concepts[${index}].language`),
      ),
    );
  }

  await createConcepts(records);

  logger.info('concepts created', { appId: request.appId, conceptIds: records.map((record) => record.id) });
  return { status: okStatus(request.requestId), concepts: records.map(toClarifaiConcept) };
}

export async function listConceptsRoute(request: ApiRequest): Promise<unknown> {
  const concepts = await listConcepts(request.appId, parsePaging(request.query));
  return { status: okStatus(request.requestId), concepts: concepts.map(toClarifaiConcept) };
}

export async function getConceptRoute(request: ApiRequest): Promise<unknown> {
  const concept = await getConcept(request.appId, conceptIdOf(request));
  return { status: okStatus(request.requestId), concept: toClarifaiConcept(concept) };
}

/** `PATCH /v2/concepts` with action `overwrite` renames concepts in their own language. */
export async function patchConceptsRoute(request: ApiRequest): Promise<unknown> {
  const action = (request.body as { action?: unknown } | null)?.action;
  if (action !== 'overwrite') {
    throw new InvalidInputError(
      'INVALID_ACTION',
      `action ${JSON.stringify(action)} is not supported for concepts. Send "action": "overwrite" to rename concepts.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  const entries = arrayField(request.body, 'concepts', '{"action": "overwrite", "concepts": [{"id": "cat", "name": "Kitty"}]}');
  const renames: Array<{ id: string; name: string }> = [];
  const seenIds = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const { id: rawId, name } = (entry ?? {}) as { id?: unknown; name?: unknown };
    const id = validateConceptId(rawId, `concepts[${index}].id`);
    if (seenIds.has(id)) {
      throw duplicateInRequest(`concepts[${index}].id`, id);
    }
    seenIds.add(id);
    renames.push({ id, name: validateConceptName(name, `concepts[${index}].name`) });
  }
  // Check that every concept exists before renaming any.
  const existing = await findConcepts(request.appId, renames.map((rename) => rename.id));
  const missing = renames.find((rename) => !existing.has(rename.id));
  if (missing !== undefined) {
    throw conceptNotFound(request.appId, missing.id);
  }

  const renamed: ConceptRecord[] = [];
  for (const { id, name } of renames) {
    renamed.push(await renameConcept(request.appId, id, name));
  }

  logger.info('concepts renamed', { appId: request.appId, conceptIds: renames.map((rename) => rename.id) });
  return { status: okStatus(request.requestId), concepts: renamed.map(toClarifaiConcept) };
}

/**
 * `POST /v2/concepts/searches`: the concepts whose name in `concept_query.language` (default
 * `en`) starts with `concept_query.name`, ignoring case. Each is returned with its name in
 * that language.
 */
export async function searchConceptsRoute(request: ApiRequest): Promise<unknown> {
  const query = (request.body as { concept_query?: unknown } | null)?.concept_query;
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw new InvalidInputError(
      'CONCEPT_QUERY_MISSING',
      `concept_query must be an object, got ${JSON.stringify(query)}. Send {"concept_query": {"name": "cat", "language": "en"}}.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  const { name, language } = query as { name?: unknown; language?: unknown };
  if (typeof name !== 'string') {
    throw new InvalidInputError(
      'INVALID_CONCEPT_QUERY',
      `concept_query.name must be a string, got ${JSON.stringify(name)}. Send the start of the concept name, e.g. "cat".`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  const searchLanguage =
    language === undefined || language === '' ? DEFAULT_LANGUAGE : validateLanguage(language, 'concept_query.language');
  const { page, perPage } = parsePaging(request.query);

  const matches = await searchConcepts(request.appId, name, searchLanguage);

  const concepts = matches.slice((page - 1) * perPage, page * perPage).map((concept) => ({
    ...toClarifaiConcept(concept),
    name: concept.languages[searchLanguage]?.name,
    language: searchLanguage,
  }));
  return { status: okStatus(request.requestId), concepts };
}

export async function listConceptLanguagesRoute(request: ApiRequest): Promise<unknown> {
  const concept = await getConcept(request.appId, conceptIdOf(request));
  return { status: okStatus(request.requestId), concept_languages: toClarifaiConceptLanguages(concept) };
}

/** `POST /v2/concepts/{concept_id}/languages`: `{"concept_languages": [{"id": "ja", "name": "猫"}]}`. */
export async function addConceptLanguagesRoute(request: ApiRequest): Promise<unknown> {
  const conceptId = conceptIdOf(request);
  const entries = arrayField(request.body, 'concept_languages', '{"concept_languages": [{"id": "ja", "name": "猫"}]}');
  const languages: Array<{ language: string; name: string; definition?: string }> = [];
  const seen = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const { id, name, definition } = (entry ?? {}) as { id?: unknown; name?: unknown; definition?: unknown };
    const language = validateLanguage(id, `concept_languages[${index}].id`);
    if (seen.has(language)) {
      throw duplicateInRequest(`concept_languages[${index}].id`, language);
    }
    seen.add(language);
    if (definition !== undefined && typeof definition !== 'string') {
      throw new InvalidInputError(
        'INVALID_CONCEPT_DEFINITION',
        `concept_languages[${index}].definition must be a string, got ${JSON.stringify(definition)}. Send text or leave it out.`,
        StatusCode.BAD_REQUEST_FORMAT,
      );
    }
    languages.push({ language, name: validateConceptName(name, `concept_languages[${index}].name`), definition });
  }

  const concept = await addConceptLanguages(request.appId, conceptId, languages);

  logger.info('concept languages added', { appId: request.appId, conceptId, languages: [...seen] });
  const added = toClarifaiConceptLanguages(concept).filter((entry) => seen.has(entry.id as string));
  return { status: okStatus(request.requestId), concept_languages: added };
}

/** Lists a concept's relations from its side; `?predicate=` keeps one kind. */
export async function listConceptRelationsRoute(request: ApiRequest): Promise<unknown> {
  const conceptId = conceptIdOf(request);
  const predicate = request.query.predicate === undefined || request.query.predicate === ''
    ? undefined
    : predicateOf(request.query.predicate, 'query parameter predicate');
  await getConcept(request.appId, conceptId);

  const relations = await listConceptRelations(request.appId, conceptId, predicate);

  const concepts = await findConcepts(request.appId, [conceptId, ...relations.map((relation) => relation.object_id)]);
  return {
    status: okStatus(request.requestId),
    concept_relations: relations.map((relation) => toClarifaiConceptRelation(relation, concepts)),
  };
}

/** `POST /v2/concepts/{concept_id}/relations`: `{"concept_relations": [{"object_concept": {"id"}, "predicate"}]}`. */
export async function createConceptRelationsRoute(request: ApiRequest): Promise<unknown> {
  const subjectId = conceptIdOf(request);
  const entries = arrayField(
    request.body,
    'concept_relations',
    '{"concept_relations": [{"object_concept": {"id": "animal"}, "predicate": "hyponym"}]}',
  );
  const requested: Array<{ objectId: string; predicate: RelationPredicate }> = [];
  for (const [index, entry] of entries.entries()) {
    const { object_concept: objectConcept, predicate } = (entry ?? {}) as { object_concept?: { id?: unknown }; predicate?: unknown };
    const objectId = validateConceptId(objectConcept?.id, `concept_relations[${index}].object_concept.id`);
    if (objectId === subjectId) {
      throw new InvalidInputError(
        'RELATION_TO_SELF',
        `concept_relations[${index}].object_concept.id ${JSON.stringify(objectId)} is the concept itself. Relate the concept to another concept.`,
        StatusCode.BAD_REQUEST_FORMAT,
      );
    }
    requested.push({ objectId, predicate: predicateOf(predicate, `concept_relations[${index}].predicate`) });
  }

  const relations = await createConceptRelations(request.appId, subjectId, requested);

  logger.info('concept relations created', { appId: request.appId, conceptId: subjectId, relationIds: relations.map((relation) => relation.id) });
  const concepts = await findConcepts(request.appId, [subjectId, ...requested.map((relation) => relation.objectId)]);
  return {
    status: okStatus(request.requestId),
    concept_relations: relations.map((relation) => toClarifaiConceptRelation(relation, concepts)),
  };
}

/** `DELETE /v2/concepts/{concept_id}/relations` with `{"ids": [...]}`. */
export async function deleteConceptRelationsRoute(request: ApiRequest): Promise<unknown> {
  const conceptId = conceptIdOf(request);
  const ids = arrayField(request.body, 'ids', '{"ids": ["<relation id>"]}');
  for (const [index, id] of ids.entries()) {
    if (typeof id !== 'string' || id === '') {
      throw new InvalidInputError(
        'INVALID_RELATION_ID',
        `ids[${index}] ${JSON.stringify(id)} is not a relation id. Send the ids that GET /v2/concepts/{concept_id}/relations returns.`,
        StatusCode.BAD_REQUEST_FORMAT,
      );
    }
  }

  await deleteConceptRelations(request.appId, conceptId, ids as string[]);

  logger.info('concept relations deleted', { appId: request.appId, conceptId, relationIds: ids });
  return { status: okStatus(request.requestId) };
}

function conceptIdOf(request: ApiRequest): string {
  return validateConceptId(request.pathParameters.concept_id, 'Path parameter concept_id');
}

function predicateOf(value: unknown, field: string): RelationPredicate {
  if (!RELATION_PREDICATES.includes(value as RelationPredicate)) {
    throw new InvalidInputError(
      'INVALID_PREDICATE',
      `${field} ${JSON.stringify(value)} is not a relation predicate. Use one of ${RELATION_PREDICATES.map((p) => `"${p}"`).join(', ')}.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value as RelationPredicate;
}

/** Returns `body[name]` as an array of 1 to 128 entries, or throws naming the field. */
function arrayField(body: unknown, name: string, example: string): unknown[] {
  const value = (body as Record<string, unknown> | null)?.[name];
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidInputError(
      `${name.toUpperCase()}_MISSING`,
      `The request has no ${name} (got ${JSON.stringify(value)}). Send ${example}.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  if (value.length > MAX_CONCEPTS_PER_REQUEST) {
    throw new InvalidInputError(
      `TOO_MANY_${name.toUpperCase()}`,
      `The request has ${value.length} entries in ${name}; at most ${MAX_CONCEPTS_PER_REQUEST} are accepted per request. Split it into several requests.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value;
}

function duplicateInRequest(field: string, id: string): InvalidInputError {
  return new InvalidInputError(
    'DUPLICATE_IN_REQUEST',
    `${field} ${JSON.stringify(id)} appears more than once in the request. Give each entry its own id.`,
    StatusCode.BAD_REQUEST_FORMAT,
  );
}
