/** Decoder for embedders: one L2-normalized vector per image. */
import type { OutputData } from '#commons/clarifai/types.ts';
import type { EmbeddingOutputSpec } from '#commons/models/manifest.ts';
import { l2Normalize } from '#commons/models/decoders/math.ts';
import { type DecodeContext, readOutputSlice } from '#commons/models/decoders/types.ts';

/** Flattens the image's slice of the output, so [N, D] and [N, D, 1, 1] both give D values. */
export function decodeEmbedding(context: DecodeContext): OutputData {
  const output = context.manifest.output as EmbeddingOutputSpec;
  const { data } = readOutputSlice(context, output.tensor);
  const vector = l2Normalize(data);
  return { embeddings: [{ vector, num_dimensions: vector.length }] };
}
