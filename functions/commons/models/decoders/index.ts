/** The decoder for each `output.decoder` name of a manifest, and the output tensors it reads. */
import type { DecoderName, OutputSpec } from '#commons/models/manifest.ts';
import { decodeAnchorBoxes } from '#commons/models/decoders/anchor-boxes.ts';
import {
  decodeBinaryConcepts,
  decodeBinnedConcepts,
  decodeSigmoidConcepts,
  decodeSoftmaxConcepts,
} from '#commons/models/decoders/concepts.ts';
import { decodeDetectionBoxes } from '#commons/models/decoders/detection-boxes.ts';
import { decodeEmbedding } from '#commons/models/decoders/embedding.ts';
import { decodeTextProbabilityMap } from '#commons/models/decoders/text-probability-map.ts';
import { decodeTopKDetections } from '#commons/models/decoders/top-k-detections.ts';
import type { Decoder } from '#commons/models/decoders/types.ts';

export const DECODERS: Record<DecoderName, Decoder> = {
  'softmax-concepts': decodeSoftmaxConcepts,
  'sigmoid-concepts': decodeSigmoidConcepts,
  'binary-concepts': decodeBinaryConcepts,
  'binned-concepts': decodeBinnedConcepts,
  'detection-boxes': decodeDetectionBoxes,
  'top-k-detections': decodeTopKDetections,
  'anchor-boxes': decodeAnchorBoxes,
  'text-probability-map': decodeTextProbabilityMap,
  embedding: decodeEmbedding,
};

/** Returns the names of the output tensors that the manifest's decoder reads. */
export function outputTensorNames(output: OutputSpec): string[] {
  switch (output.decoder) {
    case 'detection-boxes':
      return [output.tensor, output.scores_tensor];
    case 'anchor-boxes':
      return output.layers.flatMap((layer) => [layer.tensor, layer.scores_tensor]);
    default:
      return [output.tensor];
  }
}
