/** The decoder for each `output.decoder` name of a manifest. */
import type { DecoderName } from '#commons/models/manifest.ts';
import { decodeSigmoidConcepts, decodeSoftmaxConcepts } from '#commons/models/decoders/concepts.ts';
import { decodeDetectionBoxes } from '#commons/models/decoders/detection-boxes.ts';
import { decodeEmbedding } from '#commons/models/decoders/embedding.ts';
import { decodeTextProbabilityMap } from '#commons/models/decoders/text-probability-map.ts';
import type { Decoder } from '#commons/models/decoders/types.ts';

export const DECODERS: Record<DecoderName, Decoder> = {
  'softmax-concepts': decodeSoftmaxConcepts,
  'sigmoid-concepts': decodeSigmoidConcepts,
  'detection-boxes': decodeDetectionBoxes,
  'text-probability-map': decodeTextProbabilityMap,
  embedding: decodeEmbedding,
};
