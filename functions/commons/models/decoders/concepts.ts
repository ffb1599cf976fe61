/** Decoders for classifiers: one score per concept, sorted by value, highest first. */
import type { Concept, OutputData } from '#commons/clarifai/types.ts';
import type {
  BinaryConceptOutputSpec,
  BinnedConceptOutputSpec,
  ConceptOutputSpec,
  ModelManifest,
} from '#commons/models/manifest.ts';
import { sigmoid, softmax } from '#commons/models/decoders/math.ts';
import { type DecodeContext, readOutputSlice } from '#commons/models/decoders/types.ts';

function sortedConcepts(manifest: ModelManifest, values: readonly number[]): OutputData {
  const concepts: Concept[] = manifest.concepts.map((concept, index) => ({
    id: concept.id,
    name: concept.name,
    value: values[index] ?? 0,
  }));
  concepts.sort((a, b) => b.value - a.value);
  return { concepts };
}

function decodeConcepts(context: DecodeContext, activate: (scores: Float32Array) => number[]): OutputData {
  const { manifest } = context;
  const output = manifest.output as ConceptOutputSpec;
  const { data, dims } = readOutputSlice(context, output.tensor);
  if (data.length !== manifest.concepts.length) {
    throw new Error(
      `Output "${output.tensor}" of model ${manifest.id} has shape [${dims.join(', ')}], ` +
        `but the manifest lists ${manifest.concepts.length} concepts.`,
    );
  }

  const values = output.scores === 'logits' ? activate(data) : Array.from(data);
  return sortedConcepts(manifest, values);
}

/** Mutually exclusive classes; `softmax` is applied when the tensor contains logits. */
export function decodeSoftmaxConcepts(context: DecodeContext): OutputData {
  return decodeConcepts(context, (scores) => softmax(scores));
}

/** Independent labels; `sigmoid` is applied to each score when the tensor contains logits. */
export function decodeSigmoidConcepts(context: DecodeContext): OutputData {
  return decodeConcepts(context, (scores) => Array.from(scores, sigmoid));
}

/**
 * Two complementary concepts from one score: `positive_concept` gets the probability, the
 * other concept gets 1 minus it.
 */
export function decodeBinaryConcepts(context: DecodeContext): OutputData {
  const { manifest } = context;
  const output = manifest.output as BinaryConceptOutputSpec;
  const { data, dims } = readOutputSlice(context, output.tensor);
  if (data.length !== 1) {
    throw new Error(
      `Output "${output.tensor}" of model ${manifest.id} has shape [${dims.join(', ')}], expected [N, 1] for the ` +
        'binary-concepts decoder.',
    );
  }

  const raw = data[0] as number;
  const probability = output.scores === 'logits' ? sigmoid(raw) : raw;
  const values = manifest.concepts.map((concept) =>
    concept.id === output.positive_concept ? probability : 1 - probability,
  );
  return sortedConcepts(manifest, values);
}

/**
 * Concepts that each cover a range of the output's classes, such as age groups over one
 * class per year of age: a concept's value is the sum of its classes' probabilities.
 */
export function decodeBinnedConcepts(context: DecodeContext): OutputData {
  const { manifest } = context;
  const output = manifest.output as BinnedConceptOutputSpec;
  const { data, dims } = readOutputSlice(context, output.tensor);
  const lastEdge = output.bin_edges.at(-1) ?? 0;
  if (data.length < lastEdge) {
    throw new Error(
      `Output "${output.tensor}" of model ${manifest.id} has shape [${dims.join(', ')}], but bin_edges reach ` +
        `class ${lastEdge}. Fix bin_edges.`,
    );
  }

  const probabilities = output.scores === 'logits' ? softmax(data) : Array.from(data);
  const values = manifest.concepts.map((_, bin) => {
    let sum = 0;
    for (let index = output.bin_edges[bin] ?? 0; index < (output.bin_edges[bin + 1] ?? 0); index++) {
      sum += probabilities[index] ?? 0;
    }
    return sum;
  });
  return sortedConcepts(manifest, values);
}
