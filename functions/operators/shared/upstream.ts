/**
 * Reading the upstream outputs that an operator receives.
 */
import type { Concept } from '#commons/clarifai/types.ts';
import type { NodeOutput, NodeTaskEvent } from '#commons/workflows/node-data.ts';

/** Returns the upstream outputs that ran (the engine marks the others `skipped`). */
export function ranUpstream(event: Pick<NodeTaskEvent, 'upstream'>): NodeOutput[] {
  return event.upstream.filter((output) => output.skipped !== true);
}

/**
 * Returns the fields a pass-through operator (sampler, filter, router, writer) forwards: the
 * data and crops of its first upstream output, or nothing when it is fed by the image alone.
 */
export function forwardedFields(event: Pick<NodeTaskEvent, 'upstream'>): Pick<NodeOutput, 'data' | 'crops'> {
  const [first] = ranUpstream(event);
  if (first === undefined) {
    return { data: {} };
  }
  return first.crops === undefined ? { data: first.data } : { data: first.data, crops: first.crops };
}

/**
 * Collects every concept of the upstream outputs, from `data.concepts` and from the concepts
 * of each region, keeping the highest value seen for each concept id.
 */
export function collectConcepts(outputs: readonly NodeOutput[]): Map<string, Concept> {
  const found = new Map<string, Concept>();
  const add = (concept: Concept): void => {
    const seen = found.get(concept.id);
    if (seen === undefined || concept.value > seen.value) {
      found.set(concept.id, concept);
    }
  };
  for (const output of outputs) {
    output.data.concepts?.forEach(add);
    for (const region of output.data.regions ?? []) {
      region.data.concepts.forEach(add);
    }
  }
  return found;
}
