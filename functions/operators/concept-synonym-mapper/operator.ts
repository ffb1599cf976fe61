/**
 * Concept synonym mapper: renames the upstream concepts to their synonyms, as Clarifai's
 * mapper does by following synonym relations in the app's knowledge graph. It maps
 * `data.concepts` and the concepts of each region. A concept that maps to several synonyms
 * yields each of them, and when several concepts map to one synonym, it takes the highest
 * value.
 */
import type { Concept, Region } from '#commons/clarifai/types.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { ParamReader } from '../shared/params.ts';
import { ranUpstream } from '../shared/upstream.ts';

export interface SynonymMapperParams {
  /** Synonym concept ids by upstream concept id. */
  synonyms: Readonly<Record<string, readonly string[]>>;
  /** Names of the synonym concepts from `output_info.data.concepts`. An unnamed synonym is named by its id. */
  names: Readonly<Record<string, string>>;
  /** Keeps upstream concepts that have no synonym, unchanged. */
  keepUnmapped: boolean;
}

// TODO: follow the app's synonym relations once concepts and their relations are stored.
// Until then the mapping comes from the model's `synonyms` parameter.
function readSynonyms(params: ParamReader): Record<string, string[]> {
  const raw = params.object('synonyms', 'upstream concept ids mapped to a synonym id or a list of synonym ids');
  const synonyms: Record<string, string[]> = {};
  for (const [from, to] of Object.entries(raw ?? {})) {
    const targets = typeof to === 'string' ? [to] : to;
    const valid = Array.isArray(targets) && targets.length > 0 && targets.every((id) => typeof id === 'string' && id !== '');
    if (!valid) {
      throw params.error('synonyms', { [from]: to }, `Map "${from}" to a concept id or a non-empty list of concept ids.`);
    }
    synonyms[from] = targets as string[];
  }
  if (Object.keys(synonyms).length === 0) {
    throw params.error('synonyms', raw, 'Map at least one upstream concept id to its synonym, e.g. {"rotation-0": "upright"}.');
  }
  return synonyms;
}

function mapConcepts(concepts: readonly Concept[], params: SynonymMapperParams): Concept[] {
  const mapped = new Map<string, Concept>();
  const add = (concept: Concept): void => {
    const seen = mapped.get(concept.id);
    if (seen === undefined || concept.value > seen.value) {
      mapped.set(concept.id, concept);
    }
  };
  for (const concept of concepts) {
    const targets = Object.hasOwn(params.synonyms, concept.id) ? params.synonyms[concept.id] : undefined;
    if (targets === undefined) {
      if (params.keepUnmapped) {
        add(concept);
      }
      continue;
    }
    for (const id of targets) {
      add({ id, name: (Object.hasOwn(params.names, id) ? params.names[id] : undefined) ?? id, value: concept.value });
    }
  }
  return [...mapped.values()].sort((a, b) => b.value - a.value);
}

export const conceptSynonymMapper: Operator<SynonymMapperParams> = {
  typeId: 'concept-synonym-mapper',
  description: "Renames the upstream concepts to their synonyms, in data.concepts and in each region's concepts.",
  inputKinds: ['concepts', 'regions'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('concept-synonym-mapper', raw);
    const synonyms = readSynonyms(params);
    const names = Object.fromEntries(params.conceptList({ use: 'ignored', meaning: 'unused' }).map((concept) => [concept.id, concept.name]));
    const keepUnmapped = params.boolean('keep_unmapped', false, 'true keeps concepts that have no synonym, false drops them');
    params.rejectUnknownKeys();
    return { synonyms, names, keepUnmapped };
  },

  async run(event, params) {
    const outputs = ranUpstream(event);
    const hasConcepts = outputs.some((output) => output.data.concepts !== undefined);
    const hasRegions = outputs.some((output) => output.data.regions !== undefined);

    const regions: Region[] = [];
    for (const region of outputs.flatMap((output) => output.data.regions ?? [])) {
      const concepts = mapConcepts(region.data.concepts, params);
      // A region with no concept left is dropped, as the region thresholder does.
      if (concepts.length > 0) {
        regions.push({ ...region, data: { ...region.data, concepts } });
      }
    }
    const concepts = mapConcepts(outputs.flatMap((output) => output.data.concepts ?? []), params);

    return outputOf(event, {
      data: {
        ...(hasConcepts || !hasRegions ? { concepts } : {}),
        ...(hasRegions ? { regions } : {}),
      },
    });
  },
};
