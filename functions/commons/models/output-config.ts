/**
 * Clarifai's `output_config` filters, applied to decoded outputs: `select_concepts`, then
 * `min_value`, then `max_concepts`. For detectors they apply to each region's concepts, and a
 * region left without concepts is dropped.
 */
import type { Concept, OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';

/** Clarifai's default number of concepts per output. */
export const DEFAULT_MAX_CONCEPTS = 20;

export interface ConceptFilter {
  maxConcepts: number;
  minValue: number;
  /** Ids of the selected concepts; undefined when every concept is allowed. */
  selectedIds?: ReadonlySet<string>;
}

function invalidConfig(message: string): InvalidInputError {
  return new InvalidInputError('INVALID_OUTPUT_CONFIG', message, StatusCode.MODEL_INVALID_ARGUMENT);
}

/**
 * Validates `outputConfig` against the model's concepts. Throws `INVALID_OUTPUT_CONFIG` for a
 * bad number and `UNKNOWN_CONCEPT` for a selected concept the model does not have.
 */
export function resolveOutputConfig(manifest: ModelManifest, outputConfig: OutputConfig = {}): ConceptFilter {
  const { max_concepts: maxConcepts, min_value: minValue, select_concepts: selectConcepts } = outputConfig;
  if (maxConcepts !== undefined && (!Number.isInteger(maxConcepts) || maxConcepts < 0)) {
    throw invalidConfig(`output_config.max_concepts must be a non-negative integer, got ${JSON.stringify(maxConcepts)}.`);
  }
  if (minValue !== undefined && (typeof minValue !== 'number' || !(minValue >= 0 && minValue <= 1))) {
    throw invalidConfig(`output_config.min_value must be a number from 0 to 1, got ${JSON.stringify(minValue)}.`);
  }

  const filter: ConceptFilter = {
    // 0 is the protobuf default of an unset field, so it means "use the default" as in Clarifai.
    maxConcepts: maxConcepts === undefined || maxConcepts === 0 ? DEFAULT_MAX_CONCEPTS : maxConcepts,
    minValue: minValue ?? 0,
  };
  if (selectConcepts === undefined || selectConcepts.length === 0) {
    return filter;
  }

  const selectedIds = new Set<string>();
  for (const [index, selected] of selectConcepts.entries()) {
    if (selected.id === undefined && selected.name === undefined) {
      throw invalidConfig(`output_config.select_concepts[${index}] needs an id or a name.`);
    }
    // Ids and names are matched exactly (case-sensitive), as in Clarifai.
    const match = manifest.concepts.find((concept) => concept.id === selected.id || concept.name === selected.name);
    if (match === undefined) {
      const label = selected.id ?? selected.name;
      const known = manifest.concepts.map((concept) => `${concept.id} (${concept.name})`).join(', ');
      // NOTE: Clarifai returns MIXED_STATUS when only some selected concepts exist, but Percept
      // rejects the request whenever one of them is unknown.
      throw new InvalidInputError(
        'UNKNOWN_CONCEPT',
        `Concept "${label}" is not a concept of model ${manifest.id}. Known concepts: ${known}.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
    selectedIds.add(match.id);
  }
  return { ...filter, selectedIds };
}

/** Filters and truncates concepts that are already sorted by value, highest first. */
export function filterConcepts(concepts: readonly Concept[], filter: ConceptFilter): Concept[] {
  return concepts
    .filter((concept) => filter.selectedIds === undefined || filter.selectedIds.has(concept.id))
    .filter((concept) => concept.value >= filter.minValue)
    .slice(0, filter.maxConcepts);
}

/** Applies the filter to an output's concepts, or to each of its regions' concepts. */
export function applyOutputConfig(data: OutputData, filter: ConceptFilter): OutputData {
  const result: OutputData = { ...data };
  if (data.concepts !== undefined) {
    result.concepts = filterConcepts(data.concepts, filter);
  }
  if (data.regions !== undefined) {
    result.regions = data.regions
      .map((region) => ({ ...region, data: { ...region.data, concepts: filterConcepts(region.data.concepts, filter) } }))
      .filter((region) => region.data.concepts.length > 0);
  }
  return result;
}
