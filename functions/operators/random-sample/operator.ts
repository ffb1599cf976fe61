/**
 * Random sampler: lets an input through with probability `keep_fraction` and drops it
 * otherwise, as Clarifai's `keep_fraction > rand()`. With a `seed`, the decision depends only
 * on the seed and the input id (plus the crop's region id inside a crop scope), so a rerun
 * keeps and drops the same inputs.
 */
import { outputOf } from '#commons/workflows/node-data.ts';
import type { NodeTaskEvent } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { ParamReader } from '../shared/params.ts';
import { randomUniform, seededUniform } from '../shared/sampling.ts';
import { forwardedFields } from '../shared/upstream.ts';

export interface RandomSampleParams {
  /** Fraction of inputs kept on average, 0 to 1. */
  keepFraction: number;
  /** Seed that makes the decisions reproducible. Without it, each input gets a fresh random number. */
  seed?: string;
}

/** Returns the key that the seeded decision depends on: the input id, plus the crop inside a crop scope. */
export function sampleKey(event: Pick<NodeTaskEvent, 'input' | 'crop'>): string {
  return event.crop === undefined ? event.input.id : `${event.input.id}\n${event.crop.region.id}`;
}

/** Tells whether the sampler keeps the input of `event`. */
export function keeps(event: Pick<NodeTaskEvent, 'input' | 'crop'>, params: RandomSampleParams): boolean {
  const draw = params.seed === undefined ? randomUniform() : seededUniform(params.seed, sampleKey(event));
  return draw < params.keepFraction;
}

export const randomSample: Operator<RandomSampleParams> = {
  typeId: 'random-sample',
  description: 'Lets each input through with probability keep_fraction, reproducibly when a seed is set.',
  inputKinds: ['image', 'concepts', 'regions', 'crops', 'embeddings'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('random-sample', raw);
    const keepFraction = params.number('keep_fraction', undefined, { min: 0, max: 1 }, 'the fraction of inputs to keep');
    const seed = params.raw('seed');
    if (seed !== undefined && !(typeof seed === 'string' && seed !== '') && !Number.isSafeInteger(seed)) {
      throw params.error('seed', seed, 'Set it to a whole number or a non-empty string, or leave it out for unseeded sampling.');
    }
    params.rejectUnknownKeys();
    return seed === undefined ? { keepFraction } : { keepFraction, seed: String(seed) };
  },

  async run(event, params) {
    if (!keeps(event, params)) {
      return outputOf(event, { dropped: true });
    }
    return outputOf(event, forwardedFields(event));
  },
};
