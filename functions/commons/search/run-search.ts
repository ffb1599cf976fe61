/**
 * Runs a parsed search. It orders the candidates by the rank (visual similarity or a
 * predicted concept, or input id order without a rank) and keeps those that pass the
 * filters. It returns the requested page of hits with the annotation each hit is about.
 */
import { toClarifaiAnnotation } from '#commons/clarifai/resources.ts';
import { InvalidInputError, NotFoundError, PerceptError, StatusCode } from '#commons/errors.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import { logger } from '#commons/logger.ts';
import { resolveRunnableModel } from '#commons/models/app-models.ts';
import { forEachPostingPage } from '#commons/search/concept-postings.ts';
import { forEachPage } from '#commons/search/dynamo-batch.ts';
import { ANNOTATION_SUCCESS } from '#commons/search/filters.ts';
import { SEARCH_EMBEDDING_MODEL_ID, searchVectorOf, unitVector } from '#commons/search/indexing.ts';
import type { SearchConcept, SearchRank, SearchRequest } from '#commons/search/query-types.ts';
import { CandidateFilter, stripKeys } from '#commons/search/search-inputs.ts';
import { searchBackend } from '#commons/search/select-backend.ts';
import { type AnnotationRecord, annotationId, listAnnotations } from '#commons/storage/annotations.ts';
import { type InputRecord, findInput } from '#commons/storage/inputs.ts';
import { INPUT_SK_PREFIX, appPk } from '#commons/storage/keys.ts';

/**
 * The maximum number of hits an unfiltered visual search requests from the backend. When inputs
 * were deleted while their vectors stayed in the index, it requests more to fill the page.
 */
export const MAX_VISUAL_CANDIDATES = 10_000;

/** The factor by which an unfiltered visual search raises its request when deleted inputs left its page short. */
const REFILL_FACTOR = 4;

export interface SearchHit {
  /** Cosine similarity for a visual rank, the predicted value for a concept rank, or 1 without a rank. */
  score: number;
  input: InputRecord;
  /** The annotation the hit is about, in Clarifai's JSON. */
  annotation: Record<string, unknown>;
}

interface RankedInput {
  input: InputRecord;
  score: number;
  /** The annotation that produced the score, when one did. */
  annotationId?: string;
}

/** Runs the search and returns its page of hits, best first. */
export async function runSearch(appId: string, request: SearchRequest): Promise<SearchHit[]> {
  const needed = request.page * request.perPage;
  const candidates = new CandidateFilter(appId, request.filters);
  const { rank } = request;

  let ranked: RankedInput[];
  if (rank === undefined) {
    ranked = await filterAll(appId, candidates, needed);
  } else if (rank.kind === 'concept') {
    ranked = rank.concept.value === 1
      ? await rankByPrediction(appId, conceptIdOf(rank.concept), candidates, needed)
      : await rankByMissingPrediction(appId, conceptIdOf(rank.concept), candidates);
  } else {
    ranked = await rankBySimilarity(appId, await queryVector(appId, rank), candidates, needed);
  }

  const page = ranked.slice((request.page - 1) * request.perPage, needed);
  return Promise.all(
    page.map(async (hit) => ({
      // Float32 dot products of unit vectors can exceed 1 by rounding, so scores are clamped to [-1, 1].
      score: Math.min(1, Math.max(-1, hit.score)),
      input: hit.input,
      annotation: await hitAnnotation(hit, rank, candidates),
    })),
  );
}

/** Returns the concept's id, or its name when it has no id, because the built-in models use each concept's name as its id. */
function conceptIdOf(concept: SearchConcept): string {
  return concept.id ?? (concept.name as string);
}

/** Returns the unit vector to search with: the query image embedded now, or the stored embedding of an input. */
async function queryVector(appId: string, rank: Extract<SearchRank, { kind: 'image' | 'input' }>): Promise<Float32Array> {
  if (rank.kind === 'image') {
    let image;
    try {
      image = await decodeImage(rank.bytes, imageLimitsFromEnv());
    } catch (error) {
      if (error instanceof PerceptError) {
        throw new InvalidInputError(error.code, `${rank.field}: ${error.message}`, error.statusCode, error);
      }
      throw error;
    }
    const embedder = await resolveRunnableModel(appId, SEARCH_EMBEDDING_MODEL_ID);
    const [output] = await embedder.predict([image]);
    return unitVector(output?.embeddings?.[0]?.vector ?? []);
  }

  const input = await findInput(appId, rank.inputId);
  if (input === undefined) {
    throw new NotFoundError(
      'INPUT_NOT_FOUND',
      `${rank.field} ${JSON.stringify(rank.inputId)} is not an input of app ${JSON.stringify(appId)}. List inputs with GET /v2/inputs.`,
      StatusCode.INPUT_DOES_NOT_EXIST,
    );
  }
  const vector = (await listAnnotations(appId, input.id)).map(searchVectorOf).find((found) => found !== undefined);
  if (vector === undefined) {
    throw new InvalidInputError(
      'INPUT_NOT_INDEXED',
      `${rank.field} ${JSON.stringify(rank.inputId)} has no ${SEARCH_EMBEDDING_MODEL_ID} embedding (input status ${input.status.code}: ${input.status.description}). Wait until the input's status is 30000, or rank by its image with data.image.base64.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return vector;
}

/**
 * Requests the nearest inputs from the backend. With filters, the backend checks candidates
 * with `CandidateFilter.isAllowed` in score order during its search, so that it can probe
 * further when the filters keep few inputs, and returns only inputs that pass them.
 */
async function rankBySimilarity(
  appId: string,
  vector: Float32Array,
  candidates: CandidateFilter,
  needed: number,
): Promise<RankedInput[]> {
  const backend = searchBackend();
  const allow = candidates.hasFilters ? (inputId: string) => candidates.isAllowed(inputId) : undefined;
  let topK = needed;
  for (;;) {
    const hits = await backend.search({ appId, vector, topK, ...(allow === undefined ? {} : { allow }) });
    // With filters, `isAllowed` already read these inputs, so only an unfiltered search reads them here.
    const passedInputs = await candidates.select(hits.map((hit) => hit.inputId));
    const ranked = hits.flatMap((hit) => {
      const input = passedInputs.get(hit.inputId);
      return input === undefined ? [] : [{ input, score: hit.score }];
    });
    if (ranked.length >= needed || hits.length < topK || allow !== undefined || topK >= MAX_VISUAL_CANDIDATES) {
      await removeVanishedInputs(appId, candidates.missingInputIds);
      return ranked;
    }
    topK = Math.min(MAX_VISUAL_CANDIDATES, topK * REFILL_FACTOR);
  }
}

// A vector whose input was deleted while the input's workflow still ran is left in the
// index, and the first search that finds it removes it.
async function removeVanishedInputs(appId: string, inputIds: readonly string[]): Promise<void> {
  if (inputIds.length === 0) {
    return;
  }
  logger.warn('search found vectors of deleted inputs, removing them', { appId, inputIds });
  await searchBackend().remove(appId, inputIds);
}

/** Reads the concept's postings, highest value first, until `needed` inputs passed the filters. */
async function rankByPrediction(
  appId: string,
  conceptId: string,
  candidates: CandidateFilter,
  needed: number,
): Promise<RankedInput[]> {
  const ranked: RankedInput[] = [];
  const seen = new Set<string>();
  await forEachPostingPage(appId, conceptId, async (postings) => {
    // An input's first posting is its highest value, because postings come in value order.
    const fresh = postings.filter((posting) => !seen.has(posting.inputId) && seen.add(posting.inputId));
    const passedInputs = await candidates.select(fresh.map((posting) => posting.inputId));
    for (const posting of fresh) {
      const input = passedInputs.get(posting.inputId);
      if (input !== undefined) {
        ranked.push({ input, score: posting.value, annotationId: posting.annotationId });
      }
    }
    return ranked.length < needed;
  });
  return ranked;
}

/**
 * Ranks every input by how unlikely the concept is: 1 minus its highest predicted value, so
 * inputs without any prediction of the concept score 1 and come first, in input id order.
 */
async function rankByMissingPrediction(appId: string, conceptId: string, candidates: CandidateFilter): Promise<RankedInput[]> {
  // NOTE: this reads every input and every posting of the concept, so its cost grows with the app.
  const best = new Map<string, { value: number; annotationId: string }>();
  await forEachPostingPage(appId, conceptId, (postings) => {
    for (const posting of postings) {
      if (!best.has(posting.inputId)) {
        best.set(posting.inputId, { value: posting.value, annotationId: posting.annotationId });
      }
    }
    return true;
  });
  const ranked: RankedInput[] = [];
  await forEachPage(
    appPk(appId),
    async (items) => {
      const passedInputs = await candidates.check(items.map((item) => stripKeys<InputRecord>(item)));
      for (const input of passedInputs.values()) {
        const prediction = best.get(input.id);
        ranked.push({
          input,
          score: 1 - (prediction?.value ?? 0),
          ...(prediction === undefined ? {} : { annotationId: prediction.annotationId }),
        });
      }
    },
    { prefix: INPUT_SK_PREFIX },
  );
  return ranked.sort((a, b) => b.score - a.score || a.input.id.localeCompare(b.input.id));
}

/** Lists the app's inputs in id order until `needed` of them passed the filters. Each scores 1. */
async function filterAll(appId: string, candidates: CandidateFilter, needed: number): Promise<RankedInput[]> {
  const ranked: RankedInput[] = [];
  await forEachPage(
    appPk(appId),
    async (items) => {
      const passedInputs = await candidates.check(items.map((item) => stripKeys<InputRecord>(item)));
      ranked.push(...[...passedInputs.values()].map((input) => ({ input, score: 1 })));
      return ranked.length < needed;
    },
    { prefix: INPUT_SK_PREFIX },
  );
  return ranked;
}

/**
 * Returns the annotation a hit is about: the image embedding for a visual rank, the
 * annotation that predicted the concept for a concept rank, or else the input-level
 * annotation with the input's labels, metadata and geo point.
 */
async function hitAnnotation(hit: RankedInput, rank: SearchRank | undefined, candidates: CandidateFilter): Promise<Record<string, unknown>> {
  let annotation: AnnotationRecord | undefined;
  if (rank !== undefined && (rank.kind === 'image' || rank.kind === 'input')) {
    annotation = (await candidates.annotationsOf(hit.input.id)).findLast((found) => searchVectorOf(found) !== undefined);
  } else if (hit.annotationId !== undefined) {
    annotation = (await candidates.annotationsOf(hit.input.id)).find((found) => found.id === hit.annotationId);
  }
  return annotation === undefined ? inputLevelAnnotationJson(hit.input) : toClarifaiAnnotation(annotation);
}

/** Returns the input's own data as Clarifai's input-level annotation, with an id derived from the input id. */
export function inputLevelAnnotationJson(input: InputRecord): Record<string, unknown> {
  return {
    id: annotationId(input.id, 'input', 'input'),
    input_id: input.id,
    data: {
      concepts: (input.concepts ?? []).map((concept) => ({ ...concept, app_id: input.app_id })),
      metadata: input.metadata ?? {},
      ...(input.geo === undefined ? {} : { geo: input.geo }),
    },
    status: { code: ANNOTATION_SUCCESS, description: 'Annotation success' },
    created_at: input.created_at,
    modified_at: input.modified_at,
  };
}
