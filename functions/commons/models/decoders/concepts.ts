/** Decoders for classifiers: one score per concept, sorted by value, highest first. */
import type { Concept, OutputData } from '#commons/clarifai/types.ts';
import type { ConceptOutputSpec } from '#commons/models/manifest.ts';
import { sigmoid, softmax } from '#commons/models/decoders/math.ts';
import { type DecodeContext, readOutputSlice } from '#commons/models/decoders/types.ts';

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
  const concepts: Concept[] = manifest.concepts.map((concept, index) => ({
    id: concept.id,
    name: concept.name,
    value: values[index] ?? 0,
  }));
  concepts.sort((a, b) => b.value - a.value);
  return { concepts };
}

/** Mutually exclusive classes; `softmax` is applied when the tensor contains logits. */
export function decodeSoftmaxConcepts(context: DecodeContext): OutputData {
  return decodeConcepts(context, (scores) => softmax(scores));
}

/** Independent labels; `sigmoid` is applied to each score when the tensor contains logits. */
export function decodeSigmoidConcepts(context: DecodeContext): OutputData {
  return decodeConcepts(context, (scores) => Array.from(scores, sigmoid));
}
