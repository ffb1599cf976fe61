import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAnnotations } from '#commons/storage/annotations.ts';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { annotationWriter } from '../../functions/operators/annotation-writer/operator.ts';
import { type LocalServices, PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator, startServices } from './helpers.ts';

let services: LocalServices;
let page: NodeOutput;
let upright: NodeOutput;

beforeAll(async () => {
  services = await startServices({ table: true });
  page = await modelOutput('detection', 'ocr-text-detector', await readFixture('page.png'));
  upright = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['heading words']));
});

afterAll(async () => {
  await services?.stop();
});

describe('annotation-writer', () => {
  it('writes detections with the given status', async () => {
    const event = nodeEvent(annotationWriter, { inputId: 'pending-page', upstream: [page] });

    const output = await runOperator(annotationWriter, { model_metadata: { annotation_status: 'ANNOTATION_PENDING' } }, event);

    const stored = await listAnnotations('main', 'pending-page');
    expect(stored).toHaveLength(1);
    expect(stored[0]?.status).toEqual({ code: 24151, description: 'Annotation pending' });
    expect(stored[0]?.data.regions).toEqual(page.data.regions);
    expect(stored[0]?.worker.model).toEqual({ id: 'ocr-text-detector', model_version: { id: page.model.model_version.id } });
    expect(output.metadata).toEqual({ annotation_ids: [stored[0]?.id] });
    expect(output.data).toEqual(page.data);
  });

  it('accepts the status as a code', async () => {
    const event = nodeEvent(annotationWriter, { inputId: 'review-page', upstream: [upright] });

    await runOperator(annotationWriter, { model_metadata: { annotation_status: 24157 } }, event);

    const [stored] = await listAnnotations('main', 'review-page');
    expect(stored?.status.code).toBe(24157);
    expect(stored?.data.concepts).toEqual(upright.data.concepts);
  });

  it('overwrites its annotation on a rerun', async () => {
    const event = nodeEvent(annotationWriter, { inputId: 'rerun-page', upstream: [page, upright] });

    await runOperator(annotationWriter, {}, event);
    await runOperator(annotationWriter, {}, event);

    const stored = await listAnnotations('main', 'rerun-page');
    expect(stored).toHaveLength(2);
    expect(stored.map((annotation) => annotation.status.code)).toEqual([24150, 24150]);
  });

  it('writes crop concepts as a region', async () => {
    const box = { top_row: 0.1, left_col: 0.2, bottom_row: 0.3, right_col: 0.6 };
    const crop = {
      image: { bucket: services.bucket, key: 'derived/uploads/main/page.png/crop/heading.png' },
      region: { id: 'heading', region_info: { bounding_box: box }, data: { concepts: [] } },
    };
    const event = nodeEvent(annotationWriter, { inputId: 'crop-page', crop, upstream: [upright] });

    await runOperator(annotationWriter, {}, event);

    const [stored] = await listAnnotations('main', 'crop-page');
    expect(stored?.data.concepts).toBeUndefined();
    expect(stored?.data.regions).toEqual([{ id: 'heading', region_info: { bounding_box: box }, data: { concepts: upright.data.concepts } }]);
  });

  it('skips empty outputs and transient inputs', async () => {
    const [region] = page.data.regions ?? [];
    const noConcepts = { ...region!, data: { concepts: [] } };
    const empty = nodeEvent(annotationWriter, { inputId: 'empty-page', upstream: [{ ...page, data: { regions: [noConcepts] } }] });
    const transient = nodeEvent(annotationWriter, { inputId: 'transient-page', upstream: [page] });
    transient.input.transient = true;

    const emptyOutput = await runOperator(annotationWriter, {}, empty);
    const transientOutput = await runOperator(annotationWriter, {}, transient);

    expect(emptyOutput.metadata).toEqual({ annotation_ids: [] });
    expect(transientOutput.metadata).toEqual({ annotation_ids: [] });
    expect(await listAnnotations('main', 'empty-page')).toEqual([]);
    expect(await listAnnotations('main', 'transient-page')).toEqual([]);
  });

  it('rejects an unknown status', () => {
    expect(() => annotationWriter.validateParams({ concepts: [], model_metadata: { annotation_status: 'ANNOTATION_DONE' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid annotation-writer parameter output_info.output_config.model_metadata.annotation_status: got "ANNOTATION_DONE". ' +
          'Use one of ANNOTATION_SUCCESS (24150), ANNOTATION_PENDING (24151), ANNOTATION_AWAITING_REVIEW (24157), ' +
          'ANNOTATION_AWAITING_CONSENSUS_REVIEW (24159).',
      }),
    );
  });
});
