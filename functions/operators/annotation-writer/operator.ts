/**
 * Annotation writer: stores the upstream outputs as annotations on the input, with the
 * annotation status the model sets (for instance ANNOTATION_PENDING for a human to review).
 * Inside a crop scope the annotation is a region: the crop's box with the concepts found on
 * it, or the regions found on it placed in input-image coordinates. The output forwards the
 * first upstream output, with the ids written in `metadata.annotation_ids`. It writes nothing
 * for a transient input (one that the app does not store).
 */
import type { OutputData, Status } from '#commons/clarifai/types.ts';
import { annotationId, modelAnnotation, putAnnotations, type AnnotationRecord } from '#commons/storage/annotations.ts';
import type { NodeOutput, NodeTaskEvent } from '#commons/workflows/node-data.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { placeInside } from '../shared/geometry.ts';
import { ParamReader } from '../shared/params.ts';
import { forwardedFields, ranUpstream } from '../shared/upstream.ts';

/** The annotation statuses Clarifai's annotation writer accepts, with their status codes. */
export const ANNOTATION_STATUSES = {
  ANNOTATION_SUCCESS: 24150,
  ANNOTATION_PENDING: 24151,
  ANNOTATION_AWAITING_REVIEW: 24157,
  ANNOTATION_AWAITING_CONSENSUS_REVIEW: 24159,
} as const;

export type AnnotationStatusName = keyof typeof ANNOTATION_STATUSES;

const STATUS_DESCRIPTIONS: Record<AnnotationStatusName, string> = {
  ANNOTATION_SUCCESS: 'Annotation success',
  ANNOTATION_PENDING: 'Annotation pending',
  ANNOTATION_AWAITING_REVIEW: 'Annotation awaiting review',
  ANNOTATION_AWAITING_CONSENSUS_REVIEW: 'Annotation awaiting consensus review',
};

export interface AnnotationWriterParams {
  annotationStatus: AnnotationStatusName;
}

export function annotationStatus(name: AnnotationStatusName): Status {
  return { code: ANNOTATION_STATUSES[name], description: STATUS_DESCRIPTIONS[name] };
}

/**
 * Returns what to store for one upstream output, in input-image coordinates, or undefined
 * when it contains nothing to annotate.
 */
// NOTE: embeddings are not written: annotations hold `OutputData`, whose vectors would be
// read back from `embedding_refs` in S3, and no route returns embedding annotations yet.
export function annotationData(output: NodeOutput, crop: NodeTaskEvent['crop']): OutputData | undefined {
  const concepts = output.data.concepts ?? [];
  // A region without concepts annotates nothing, such as the one the engine adds for each
  // crop on which a per-crop detector found nothing.
  const regions = (output.data.regions ?? []).filter((region) => region.data.concepts.length > 0);
  if (crop === undefined) {
    const data: OutputData = {
      ...(concepts.length > 0 ? { concepts } : {}),
      ...(regions.length > 0 ? { regions } : {}),
    };
    return Object.keys(data).length > 0 ? data : undefined;
  }

  const cropBox = crop.region.region_info.bounding_box;
  const placed = regions.map((region) => ({
    ...region,
    region_info: { bounding_box: placeInside(region.region_info.bounding_box, cropBox) },
  }));
  if (concepts.length > 0) {
    placed.unshift({ id: crop.region.id, region_info: crop.region.region_info, data: { concepts } });
  }
  return placed.length > 0 ? { regions: placed } : undefined;
}

export const annotationWriter: Operator<AnnotationWriterParams> = {
  typeId: 'annotation-writer',
  description: 'Stores the upstream outputs as annotations on the input, with the given annotation status.',
  inputKinds: ['concepts', 'regions'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('annotation-writer', raw);
    const status = params.enumValue('annotation_status', 'ANNOTATION_SUCCESS', ANNOTATION_STATUSES);
    params.rejectUnknownKeys();
    return { annotationStatus: status };
  },

  async run(event, params) {
    // Inputs of `POST /v2/workflows/{id}/results` are not stored in the app, so nothing is written for them.
    if (event.input.transient === true) {
      return outputOf(event, { ...forwardedFields(event), metadata: { annotation_ids: [] } });
    }

    const annotations: AnnotationRecord[] = [];
    for (const output of ranUpstream(event)) {
      const data = annotationData(output, event.crop);
      if (data === undefined) {
        continue;
      }
      const version = output.model.model_version.id;
      const annotation = modelAnnotation(event.input.app_id, event.input.id, { id: output.model.id, versionId: version }, data);
      // One annotation per writer node, upstream node and crop, so a rerun overwrites it.
      const source = [event.node.id, output.node_id, event.crop?.region.id ?? ''].join('/');
      annotations.push({ ...annotation, id: annotationId(event.input.id, source, version), status: annotationStatus(params.annotationStatus) });
    }
    await putAnnotations(annotations);

    return outputOf(event, {
      ...forwardedFields(event),
      metadata: { annotation_ids: annotations.map((annotation) => annotation.id) },
    });
  },
};
