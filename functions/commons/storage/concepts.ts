/**
 * Concepts of an app (the labels its inputs carry), their names in several languages, and
 * the relations between them (`synonym`, `hypernym`, `hyponym`), in Clarifai's shapes.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import {
  CONCEPT_SK_PREFIX,
  appPk,
  conceptRelationSk,
  conceptRelationSkPrefix,
  conceptSk,
} from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';
import { putItemIfAbsent } from '#commons/storage/items.ts';

/**
 * Maximum UTF-8 size of a concept id. Escaped for a sort key (`#` and `%` take 3 bytes each),
 * a 256-byte id stays under DynamoDB's 1024-byte sort key limit in every key it is part of.
 */
export const MAX_CONCEPT_ID_BYTES = 256;
export const MAX_CONCEPT_NAME_LENGTH = 512;
/** The language of a concept's name when the request gives none, as in Clarifai. */
export const DEFAULT_LANGUAGE = 'en';

// BCP 47 style codes as Clarifai uses them: `en`, `ja`, `zh-TW`.
const LANGUAGE_PATTERN = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
// DynamoDB's BatchGetItem reads at most 100 keys per call.
const BATCH_GET_SIZE = 100;

export interface ConceptLanguage {
  name: string;
  definition?: string;
}

export interface ConceptRecord {
  app_id: string;
  id: string;
  /** The name in `language`, the concept's own language. */
  name: string;
  language: string;
  /** The names by language code; the entry of `language` always equals `name`. */
  languages: Record<string, ConceptLanguage>;
  created_at: string;
  modified_at: string;
}

export const RELATION_PREDICATES = ['synonym', 'hypernym', 'hyponym'] as const;
export type RelationPredicate = (typeof RELATION_PREDICATES)[number];

/** A relation as stored: `subject_id predicate object_id`, e.g. `animal hypernym cat`. */
export interface ConceptRelationRecord {
  app_id: string;
  id: string;
  subject_id: string;
  object_id: string;
  predicate: RelationPredicate;
  created_at: string;
}

/** Throws `INVALID_CONCEPT_ID` unless `value` is a non-empty, well-formed string of at most 256 UTF-8 bytes. */
export function validateConceptId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '' || !value.isWellFormed()) {
    throw new InvalidInputError(
      'INVALID_CONCEPT_ID',
      `${field} ${JSON.stringify(value)} is not a valid concept id. Use a non-empty string of Unicode text.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_CONCEPT_ID_BYTES) {
    throw new InvalidInputError(
      'CONCEPT_ID_TOO_LONG',
      `${field} ${JSON.stringify(value.slice(0, 40))}... is ${bytes} bytes in UTF-8, more than the limit of ${MAX_CONCEPT_ID_BYTES} bytes. Use a shorter id and put the long text in the concept name.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value;
}

export function validateConceptName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || !value.isWellFormed() || value.length > MAX_CONCEPT_NAME_LENGTH) {
    throw new InvalidInputError(
      'INVALID_CONCEPT_NAME',
      `${field} ${JSON.stringify(value)} is not a valid concept name. Use non-blank text of at most ${MAX_CONCEPT_NAME_LENGTH} characters.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value;
}

export function validateLanguage(value: unknown, field: string): string {
  if (typeof value !== 'string' || !LANGUAGE_PATTERN.test(value)) {
    throw new InvalidInputError(
      'INVALID_LANGUAGE',
      `${field} ${JSON.stringify(value)} is not a language code. Use a code such as "en", "ja" or "zh-TW".`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value;
}

export function newConceptRecord(appId: string, id: string, name: string, language: string): ConceptRecord {
  const now = new Date().toISOString();
  return { app_id: appId, id, name, language, languages: { [language]: { name } }, created_at: now, modified_at: now };
}

function conceptExists(appId: string, conceptId: string): InvalidInputError {
  return new InvalidInputError(
    'CONCEPT_ALREADY_EXISTS',
    `Concept id ${JSON.stringify(conceptId)} already exists in app ${JSON.stringify(appId)}. Choose another id, or rename the existing concept with PATCH /v2/concepts.`,
    StatusCode.BAD_REQUEST_FORMAT,
  );
}

/**
 * Stores new concepts. Checks all ids first, so an id that exists rejects the request
 * (`CONCEPT_ALREADY_EXISTS`, naming it) before any concept is written.
 */
export async function createConcepts(records: readonly ConceptRecord[]): Promise<void> {
  const [first] = records;
  if (first === undefined) {
    return;
  }
  const existing = await findConcepts(first.app_id, records.map((record) => record.id));
  const duplicate = records.find((record) => existing.has(record.id));
  if (duplicate !== undefined) {
    throw conceptExists(duplicate.app_id, duplicate.id);
  }

  // NOTE: the writes are not one transaction, because dynalite (the local DynamoDB) has no
  // TransactWriteItems. A concurrent request that creates one of these ids between the check
  // and the writes leaves the concepts written before it in place.
  for (const record of records) {
    const created = await putConceptIfAbsent(record);
    if (!created) {
      throw conceptExists(record.app_id, record.id);
    }
  }
}

async function putConceptIfAbsent(record: ConceptRecord): Promise<boolean> {
  return putItemIfAbsent({ pk: appPk(record.app_id), sk: conceptSk(record.id), ...record });
}

/**
 * Returns the concepts with the given ids, creating each missing one with its id as its
 * English name.
 */
export async function ensureConcepts(appId: string, conceptIds: readonly string[]): Promise<Map<string, ConceptRecord>> {
  const concepts = await findConcepts(appId, conceptIds);
  for (const id of new Set(conceptIds)) {
    if (concepts.has(id)) {
      continue;
    }
    const record = newConceptRecord(appId, id, id, DEFAULT_LANGUAGE);
    // A concurrent request may create the same concept first; either record serves.
    if (await putConceptIfAbsent(record)) {
      concepts.set(id, record);
    } else {
      concepts.set(id, await getConcept(appId, id));
    }
  }
  return concepts;
}

export async function findConcept(appId: string, conceptId: string): Promise<ConceptRecord | undefined> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: conceptSk(conceptId) } }),
  );
  return Item === undefined ? undefined : stripKeys<ConceptRecord>(Item);
}

/** Returns the concept or throws `CONCEPT_NOT_FOUND`. */
export async function getConcept(appId: string, conceptId: string): Promise<ConceptRecord> {
  const concept = await findConcept(appId, conceptId);
  if (concept === undefined) {
    throw conceptNotFound(appId, conceptId);
  }
  return concept;
}

export function conceptNotFound(appId: string, conceptId: string): NotFoundError {
  return new NotFoundError(
    'CONCEPT_NOT_FOUND',
    `Concept ${JSON.stringify(conceptId)} was not found in app ${JSON.stringify(appId)}. Create it with POST /v2/concepts, or list concepts with GET /v2/concepts.`,
    StatusCode.FAILURE,
  );
}

/** Reads the concepts with the given ids; ids that do not exist are absent from the map. */
export async function findConcepts(appId: string, conceptIds: readonly string[]): Promise<Map<string, ConceptRecord>> {
  const unique = [...new Set(conceptIds)];
  const concepts = new Map<string, ConceptRecord>();
  for (let start = 0; start < unique.length; start += BATCH_GET_SIZE) {
    let keys: Array<Record<string, unknown>> = unique
      .slice(start, start + BATCH_GET_SIZE)
      .map((id) => ({ pk: appPk(appId), sk: conceptSk(id) }));
    // DynamoDB may leave keys unprocessed under load; read them again with backoff.
    for (let attempt = 0; keys.length > 0; attempt += 1) {
      if (attempt > 8) {
        throw new Error(`DynamoDB left ${keys.length} concept reads unprocessed after ${attempt} attempts.`);
      }
      if (attempt > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
      }
      const result = await documentClient().send(
        new BatchGetCommand({ RequestItems: { [config.tableName]: { Keys: keys } } }),
      );
      for (const item of result.Responses?.[config.tableName] ?? []) {
        const concept = stripKeys<ConceptRecord>(item);
        concepts.set(concept.id, concept);
      }
      keys = result.UnprocessedKeys?.[config.tableName]?.Keys ?? [];
    }
  }
  return concepts;
}

/** Lists an app's concepts in key order (the id, with `#` and `%` escaped), one page at a time. */
export async function listConcepts(appId: string, { page, perPage }: { page: number; perPage: number }): Promise<ConceptRecord[]> {
  // NOTE: DynamoDB has no offset, so page N reads the N-1 pages before it.
  const items = await queryByPrefix(appPk(appId), CONCEPT_SK_PREFIX, page * perPage);
  return items.slice((page - 1) * perPage).map((item) => stripKeys<ConceptRecord>(item));
}

/**
 * Returns the concepts whose name in `language` starts with `namePrefix`, ignoring case
 * (both sides NFC-normalized and lower-cased), in key order.
 */
export async function searchConcepts(appId: string, namePrefix: string, language: string): Promise<ConceptRecord[]> {
  // NOTE: each search reads all of the app's concepts and filters them here. Large apps
  // would need an index on the case-folded name instead.
  const prefix = foldCase(namePrefix);
  const items = await queryByPrefix(appPk(appId), CONCEPT_SK_PREFIX);
  return items
    .map((item) => stripKeys<ConceptRecord>(item))
    .filter((concept) => {
      const name = concept.languages?.[language]?.name;
      return name !== undefined && foldCase(name).startsWith(prefix);
    });
}

function foldCase(text: string): string {
  return text.normalize('NFC').toLowerCase();
}

/** Renames a concept in its own language; throws `CONCEPT_NOT_FOUND` when it does not exist. */
export async function renameConcept(appId: string, conceptId: string, name: string): Promise<ConceptRecord> {
  const concept = await getConcept(appId, conceptId);
  try {
    const { Attributes } = await documentClient().send(
      new UpdateCommand({
        TableName: config.tableName,
        Key: { pk: appPk(appId), sk: conceptSk(conceptId) },
        UpdateExpression: 'SET #name = :name, #languages.#language.#name = :name, #modified = :now',
        ConditionExpression: 'attribute_exists(pk) AND #concept_language = :language',
        ExpressionAttributeNames: {
          '#name': 'name',
          '#languages': 'languages',
          '#language': concept.language,
          '#concept_language': 'language',
          '#modified': 'modified_at',
        },
        ExpressionAttributeValues: { ':name': name, ':language': concept.language, ':now': new Date().toISOString() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return stripKeys<ConceptRecord>(Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      throw conceptNotFound(appId, conceptId);
    }
    throw error;
  }
}

/**
 * Adds names of a concept in other languages. A language the concept already has a name in
 * is `LANGUAGE_ALREADY_EXISTS`, and then none of the given names is stored.
 */
export async function addConceptLanguages(
  appId: string,
  conceptId: string,
  entries: ReadonlyArray<{ language: string } & ConceptLanguage>,
): Promise<ConceptRecord> {
  const names: Record<string, string> = { '#languages': 'languages', '#modified': 'modified_at' };
  const values: Record<string, unknown> = { ':now': new Date().toISOString() };
  const assignments = ['#modified = :now'];
  const conditions = ['attribute_exists(pk)'];
  for (const [index, entry] of entries.entries()) {
    names[`#l${index}`] = entry.language;
    values[`:l${index}`] = entry.definition === undefined ? { name: entry.name } : { name: entry.name, definition: entry.definition };
    assignments.push(`#languages.#l${index} = :l${index}`);
    conditions.push(`attribute_not_exists(#languages.#l${index})`);
  }

  try {
    const { Attributes } = await documentClient().send(
      new UpdateCommand({
        TableName: config.tableName,
        Key: { pk: appPk(appId), sk: conceptSk(conceptId) },
        UpdateExpression: `SET ${assignments.join(', ')}`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return stripKeys<ConceptRecord>(Attributes ?? {});
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) {
      throw error;
    }
    // Read the concept to tell which condition failed.
    const concept = await getConcept(appId, conceptId);
    const existing = entries.find((entry) => concept.languages[entry.language] !== undefined);
    throw new InvalidInputError(
      'LANGUAGE_ALREADY_EXISTS',
      `Concept ${JSON.stringify(conceptId)} already has a name in language ${JSON.stringify(existing?.language)}. Leave that language out of the request.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
}

/** Returns the predicate as seen from the object's side: `A hypernym B` is `B hyponym A`. */
export function inversePredicate(predicate: RelationPredicate): RelationPredicate {
  switch (predicate) {
    case 'hypernym':
      return 'hyponym';
    case 'hyponym':
      return 'hypernym';
    case 'synonym':
      return 'synonym';
  }
}

/**
 * Returns the relations of a concept with that concept as subject: a relation stored as
 * `other hypernym concept` comes back as `concept hyponym other`, with the same id.
 */
export async function listConceptRelations(
  appId: string,
  conceptId: string,
  predicate?: RelationPredicate,
): Promise<ConceptRelationRecord[]> {
  const items = await queryByPrefix(appPk(appId), conceptRelationSkPrefix(conceptId));
  const relations = items.map((item) => orientRelation(stripKeys<ConceptRelationRecord>(item), conceptId));
  return predicate === undefined ? relations : relations.filter((relation) => relation.predicate === predicate);
}

function orientRelation(relation: ConceptRelationRecord, conceptId: string): ConceptRelationRecord {
  if (relation.subject_id === conceptId) {
    return relation;
  }
  return {
    ...relation,
    subject_id: relation.object_id,
    object_id: relation.subject_id,
    predicate: inversePredicate(relation.predicate),
  };
}

/**
 * Stores relations from `subjectId` to other concepts. Both concepts of each relation must
 * exist, and a relation that exists already, in either direction, is `RELATION_ALREADY_EXISTS`.
 */
export async function createConceptRelations(
  appId: string,
  subjectId: string,
  requested: ReadonlyArray<{ objectId: string; predicate: RelationPredicate }>,
): Promise<ConceptRelationRecord[]> {
  const concepts = await findConcepts(appId, [subjectId, ...requested.map((relation) => relation.objectId)]);
  for (const id of [subjectId, ...requested.map((relation) => relation.objectId)]) {
    if (!concepts.has(id)) {
      throw conceptNotFound(appId, id);
    }
  }

  const existing = await listConceptRelations(appId, subjectId);
  const seen = new Set(existing.map((relation) => relationKey(relation.object_id, relation.predicate)));
  const now = new Date().toISOString();
  const records: ConceptRelationRecord[] = [];
  for (const [index, { objectId, predicate }] of requested.entries()) {
    const key = relationKey(objectId, predicate);
    if (seen.has(key)) {
      throw new InvalidInputError(
        'RELATION_ALREADY_EXISTS',
        `concept_relations[${index}]: ${JSON.stringify(subjectId)} ${predicate} ${JSON.stringify(objectId)} exists already (or was given twice). List the relations with GET /v2/concepts/{concept_id}/relations.`,
        StatusCode.BAD_REQUEST_FORMAT,
      );
    }
    seen.add(key);
    records.push({ app_id: appId, id: randomUUID().replaceAll('-', ''), subject_id: subjectId, object_id: objectId, predicate, created_at: now });
  }

  // NOTE: the two items of a relation are written one after the other, not in a transaction,
  // so a failure between them leaves the relation visible from the subject's side only.
  for (const record of records) {
    for (const conceptId of [record.subject_id, record.object_id]) {
      await documentClient().send(
        new PutCommand({
          TableName: config.tableName,
          Item: { pk: appPk(appId), sk: conceptRelationSk(conceptId, record.id), ...record },
        }),
      );
    }
  }
  return records;
}

function relationKey(objectId: string, predicate: RelationPredicate): string {
  return JSON.stringify([objectId, predicate]);
}

/**
 * Deletes relations of a concept by id. An id that is not a relation of the concept is
 * `RELATION_NOT_FOUND`, and then none is deleted.
 */
export async function deleteConceptRelations(appId: string, conceptId: string, relationIds: readonly string[]): Promise<void> {
  const relations = new Map((await listConceptRelations(appId, conceptId)).map((relation) => [relation.id, relation]));
  const missing = relationIds.find((id) => !relations.has(id));
  if (missing !== undefined) {
    throw new NotFoundError(
      'RELATION_NOT_FOUND',
      `Relation ${JSON.stringify(missing)} was not found on concept ${JSON.stringify(conceptId)}. List the relations with GET /v2/concepts/{concept_id}/relations.`,
      StatusCode.FAILURE,
    );
  }

  for (const id of new Set(relationIds)) {
    const relation = relations.get(id) as ConceptRelationRecord;
    for (const side of [relation.subject_id, relation.object_id]) {
      await documentClient().send(
        new DeleteCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: conceptRelationSk(side, id) } }),
      );
    }
  }
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as T;
}
