/**
 * User annotations on the local stack, over HTTP as a Clarifai client sends them: labelled
 * boxes and image labels through POST, GET, PATCH /v2/annotations and DELETE
 * /v2/inputs/{input_id}/annotations/{annotation_id}, next to the annotations that the
 * default workflow's models write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi, imageBase64, waitForInput } from './helpers.ts';

let stack: LocalStack;

// The cat's head in chelsea.jpg and the cup in coffee.jpg, as fractions of each image.
const CAT_HEAD = { top_row: 0.08, left_col: 0.12, bottom_row: 0.96, right_col: 0.84 };
const CUP = { top_row: 0.03, left_col: 0.28, bottom_row: 0.68, right_col: 0.7 };

function regionAnnotation(inputId: string, box: Record<string, unknown>, concepts: Array<{ id: string; value: unknown }>, id?: string) {
  return {
    input_id: inputId,
    ...(id === undefined ? {} : { id }),
    data: { regions: [{ region_info: { bounding_box: box }, data: { concepts } }] },
  };
}

async function userAnnotations(inputId: string): Promise<Array<Record<string, any>>> {
  const { httpStatus, body } = await callApi(stack, 'GET', `/v2/annotations?input_ids=${inputId}`);
  expect(httpStatus, JSON.stringify(body)).toBe(200);
  return body.annotations as Array<Record<string, any>>;
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  const added = await callApi(stack, 'POST', '/v2/inputs', {
    inputs: [
      { id: 'cat', data: { image: { base64: imageBase64('chelsea.jpg') }, concepts: [{ id: 'cat', value: 1 }] } },
      { id: 'coffee', data: { image: { base64: imageBase64('coffee.jpg') } } },
      { id: 'to-delete', data: { image: { base64: imageBase64('coffee.jpg') } } },
    ],
  });
  if (added.httpStatus !== 200) {
    throw new Error(`adding the inputs failed: ${JSON.stringify(added.body)}`);
  }
  for (const id of ['cat', 'coffee', 'to-delete']) {
    await waitForInput(stack, id);
  }
});

afterAll(async () => {
  await stack?.stop();
});

describe('annotations', () => {
  let cupAnnotationId: string;

  it('adds a region annotation', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/annotations', {
      annotations: [regionAnnotation('coffee', CUP, [{ id: 'cup', value: 1 }, { id: 'saucer', value: 0 }], 'cup-box')],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.annotations).toHaveLength(1);
    const [annotation] = body.annotations;
    cupAnnotationId = annotation.id;
    expect(annotation.id).toBe('cup-box');
    expect(annotation.input_id).toBe('coffee');
    expect(annotation.status.code).toBe(24150);
    expect(annotation.created_at).toBe(annotation.modified_at);
    expect(annotation.worker).toBeUndefined();
    expect(annotation.data.regions).toHaveLength(1);
    expect(annotation.data.regions[0].id).toMatch(/^[0-9a-f]{32}$/);
    expect(annotation.data.regions[0].region_info.bounding_box).toEqual(CUP);
    expect(annotation.data.regions[0].data.concepts).toEqual([
      { id: 'cup', name: 'cup', value: 1, app_id: 'main' },
      { id: 'saucer', name: 'saucer', value: 0, app_id: 'main' },
    ]);
  });

  it('creates the concepts of new labels', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/concepts/saucer');

    expect(httpStatus).toBe(200);
    expect(body.concept).toMatchObject({ id: 'saucer', name: 'saucer' });
  });

  it('lists region labels with the input annotations', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/inputs/coffee/annotations');

    expect(httpStatus).toBe(200);
    const annotations = body.annotations as Array<Record<string, any>>;
    const user = annotations.filter((annotation) => annotation.worker === undefined);
    const models = annotations.filter((annotation) => annotation.worker !== undefined).map((annotation) => annotation.worker.model.id);
    expect(user.map((annotation) => annotation.id)).toEqual([cupAnnotationId]);
    expect(user[0]?.data.regions[0].region_info.bounding_box).toEqual(CUP);
    expect(models).toContain('general-object-detection');
    expect(models).toContain('general-image-embedding');
  });

  it('merges image labels into the input-level annotation', async () => {
    const before = await userAnnotations('cat');

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/annotations', {
      annotations: [{ input_id: 'cat', data: { concepts: [{ id: 'indoor', value: 0 }, { id: 'cat', value: 1 }] } }],
    });
    const input = await callApi(stack, 'GET', '/v2/inputs/cat');

    expect(before).toHaveLength(1);
    expect(before[0]?.data.concepts).toEqual([{ id: 'cat', name: 'cat', value: 1, app_id: 'main' }]);
    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.annotations[0].id).toBe(before[0]?.id);
    expect(body.annotations[0].data.concepts.map((concept: any) => [concept.id, concept.value])).toEqual([
      ['cat', 1],
      ['indoor', 0],
    ]);
    expect(input.body.input.data.concepts.map((concept: any) => [concept.id, concept.value])).toEqual([
      ['cat', 1],
      ['indoor', 0],
    ]);
  });

  it('labels a model region by id', async () => {
    const { body: listed } = await callApi(stack, 'GET', '/v2/inputs/cat/annotations');
    const detection = listed.annotations.find((annotation: any) => annotation.worker?.model.id === 'general-object-detection');
    const modelRegion = detection.data.regions[0];

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/annotations', {
      annotations: [{ input_id: 'cat', data: { regions: [{ id: modelRegion.id, data: { concepts: [{ id: 'tabby', value: 1 }] } }] } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const region = body.annotations[0].data.regions[0];
    expect(region.id).toBe(modelRegion.id);
    expect(region.region_info.bounding_box).toEqual(modelRegion.region_info.bounding_box);
    expect(region.data.concepts.map((concept: any) => concept.id)).toEqual(['tabby']);
  });

  it('lists user annotations by input', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/annotations?input_ids=coffee&input_ids=cat');

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const annotations = body.annotations as Array<Record<string, any>>;
    expect(annotations.map((annotation) => annotation.input_id)).toEqual(['coffee', 'cat', 'cat']);
    expect(annotations[0]?.id).toBe(cupAnnotationId);
    expect(annotations[1]?.data.concepts).toHaveLength(2);
    expect(annotations[2]?.data.regions[0].data.concepts[0].id).toBe('tabby');
    expect(annotations.every((annotation) => annotation.worker === undefined)).toBe(true);
  });

  it('lists model annotations on request', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/annotations?input_ids=coffee&list_all_annotations=true');

    expect(httpStatus).toBe(200);
    const annotations = body.annotations as Array<Record<string, any>>;
    expect(annotations[0]?.id).toBe(cupAnnotationId);
    expect(annotations.length).toBeGreaterThan(1);
    expect(annotations.slice(1).every((annotation) => annotation.worker.model.id !== undefined)).toBe(true);
  });

  it('pages the app annotations', async () => {
    const all = await callApi(stack, 'GET', '/v2/annotations');
    const second = await callApi(stack, 'GET', '/v2/annotations?per_page=1&page=2');
    const byId = await callApi(stack, 'GET', `/v2/annotations?ids=${cupAnnotationId}`);

    expect(all.httpStatus).toBe(200);
    // Inputs in id order: cat (input-level, tabby box), coffee (cup box); to-delete has no label.
    expect(all.body.annotations.map((annotation: any) => annotation.input_id)).toEqual(['cat', 'cat', 'coffee']);
    expect(second.body.annotations).toHaveLength(1);
    expect(second.body.annotations[0]).toEqual(all.body.annotations[1]);
    expect(byId.body.annotations.map((annotation: any) => annotation.id)).toEqual([cupAnnotationId]);
  });

  it('merges a new box and label into a region', async () => {
    const moved = { top_row: 0.05, left_col: 0.3, bottom_row: 0.66, right_col: 0.69 };

    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/annotations', {
      action: 'merge',
      annotations: [{ input_id: 'coffee', id: cupAnnotationId, data: { regions: [{ region_info: { bounding_box: moved }, data: { concepts: [{ id: 'espresso', value: 1 }] } }] } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const region = body.annotations[0].data.regions[0];
    expect(region.region_info.bounding_box).toEqual(moved);
    expect(region.data.concepts.map((concept: any) => [concept.id, concept.value])).toEqual([
      ['cup', 1],
      ['saucer', 0],
      ['espresso', 1],
    ]);
    expect(body.annotations[0].modified_at > body.annotations[0].created_at).toBe(true);
  });

  it('removes labels from a region', async () => {
    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/annotations', {
      action: 'remove',
      annotations: [{ input_id: 'coffee', id: cupAnnotationId, data: { regions: [{ data: { concepts: [{ id: 'saucer' }, { id: 'espresso' }] } }] } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.annotations[0].data.regions[0].data.concepts.map((concept: any) => concept.id)).toEqual(['cup']);
  });

  it('overwrites a region', async () => {
    const before = (await userAnnotations('coffee'))[0];

    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/annotations', {
      action: 'overwrite',
      annotations: [{ input_id: 'coffee', id: cupAnnotationId, data: { regions: [{ region_info: { bounding_box: CUP }, data: { concepts: [{ id: 'mug', value: 1 }] } }] } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const region = body.annotations[0].data.regions[0];
    expect(region.id).toBe(before?.data.regions[0].id);
    expect(region.region_info.bounding_box).toEqual(CUP);
    expect(region.data.concepts.map((concept: any) => concept.id)).toEqual(['mug']);
  });

  it('patches the input-level annotation', async () => {
    const [inputLevel] = await userAnnotations('cat');

    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/annotations', {
      action: 'remove',
      annotations: [{ input_id: 'cat', id: inputLevel?.id, data: { concepts: [{ id: 'indoor' }] } }],
    });
    const input = await callApi(stack, 'GET', '/v2/inputs/cat');

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.annotations[0].data.concepts.map((concept: any) => concept.id)).toEqual(['cat']);
    expect(input.body.input.data.concepts.map((concept: any) => concept.id)).toEqual(['cat']);
  });

  it('keeps regions when inputs are patched', async () => {
    const patched = await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'overwrite',
      inputs: [{ id: 'coffee', data: { concepts: [{ id: 'drink', value: 1 }] } }],
    });

    const annotations = await userAnnotations('coffee');

    expect(patched.httpStatus, JSON.stringify(patched.body)).toBe(200);
    expect(annotations.map((annotation) => Object.keys(annotation.data)[0])).toEqual(['concepts', 'regions']);
    expect(annotations[0]?.data.concepts.map((concept: any) => concept.id)).toEqual(['drink']);
    expect(annotations[1]?.id).toBe(cupAnnotationId);
  });

  it('deletes a region annotation', async () => {
    const deleted = await callApi(stack, 'DELETE', `/v2/inputs/coffee/annotations/${cupAnnotationId}`);
    const again = await callApi(stack, 'DELETE', `/v2/inputs/coffee/annotations/${cupAnnotationId}`);
    const annotations = await userAnnotations('coffee');

    expect(deleted.httpStatus, JSON.stringify(deleted.body)).toBe(200);
    expect(annotations.map((annotation) => annotation.id)).not.toContain(cupAnnotationId);
    expect(again.httpStatus).toBe(404);
    expect(again.body.status.error_code).toBe('ANNOTATION_NOT_FOUND');
    expect(again.body.status.details).toBe(
      `Annotation "${cupAnnotationId}" was not found on input "coffee". List the input's annotations with GET /v2/annotations?input_ids=coffee.`,
    );
  });

  it('deletes annotations with their input', async () => {
    await callApi(stack, 'POST', '/v2/annotations', { annotations: [regionAnnotation('to-delete', CUP, [{ id: 'cup', value: 1 }])] });
    const before = await userAnnotations('to-delete');

    const deleted = await callApi(stack, 'DELETE', '/v2/inputs/to-delete');
    const listed = await callApi(stack, 'GET', '/v2/annotations');

    expect(before).toHaveLength(1);
    expect(deleted.httpStatus).toBe(200);
    expect(listed.body.annotations.map((annotation: any) => annotation.input_id)).not.toContain('to-delete');
  });
});

describe('annotation errors', () => {
  async function rejected(method: string, route: string, body?: unknown): Promise<{ httpStatus: number; code: string; details: string }> {
    const response = await callApi(stack, method, route, body);
    return { httpStatus: response.httpStatus, code: response.body.status?.error_code, details: response.body.status?.details };
  }

  it('rejects an unknown input', async () => {
    const result = await rejected('POST', '/v2/annotations', { annotations: [regionAnnotation('no-such-input', CUP, [{ id: 'cup', value: 1 }])] });

    expect(result.httpStatus).toBe(404);
    expect(result.code).toBe('INPUT_NOT_FOUND');
    expect(result.details).toBe('Input "no-such-input" was not found in app "main". List inputs with GET /v2/inputs.');
  });

  it('rejects a box value above 1', async () => {
    const result = await rejected('POST', '/v2/annotations', {
      annotations: [regionAnnotation('coffee', { ...CUP, bottom_row: 1.2 }, [{ id: 'cup', value: 1 }])],
    });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_BOUNDING_BOX');
    expect(result.details).toBe(
      'annotations[0].data.regions[0].region_info.bounding_box.bottom_row 1.2 is not a fraction from 0 to 1. top_row and bottom_row are fractions of the image height, left_col and right_col of its width.',
    );
  });

  it('rejects a negative box value', async () => {
    const result = await rejected('POST', '/v2/annotations', {
      annotations: [regionAnnotation('coffee', { ...CUP, left_col: -0.1 }, [{ id: 'cup', value: 1 }])],
    });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_BOUNDING_BOX');
    expect(result.details).toContain('bounding_box.left_col -0.1 is not a fraction from 0 to 1.');
  });

  it('rejects a box without height', async () => {
    const result = await rejected('POST', '/v2/annotations', {
      annotations: [regionAnnotation('coffee', { ...CUP, top_row: 0.68 }, [{ id: 'cup', value: 1 }])],
    });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_BOUNDING_BOX');
    expect(result.details).toBe(
      'annotations[0].data.regions[0].region_info.bounding_box.top_row 0.68 is not above bottom_row 0.68. top_row must be smaller than bottom_row, so that the box has a height.',
    );
  });

  it('rejects a concept value of 0.5', async () => {
    const result = await rejected('POST', '/v2/annotations', { annotations: [regionAnnotation('coffee', CUP, [{ id: 'cup', value: 0.5 }])] });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_CONCEPT_VALUE');
    expect(result.details).toBe(
      'annotations[0].data.regions[0].data.concepts[0].value 0.5 is not a label value. Use 1 for a positive example or 0 for a negative one.',
    );
  });

  it('rejects an image label without value', async () => {
    const result = await rejected('POST', '/v2/annotations', { annotations: [{ input_id: 'cat', data: { concepts: [{ id: 'cat' }] } }] });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_CONCEPT_VALUE');
    expect(result.details).toContain('annotations[0].data.concepts[0].value undefined is not a label value.');
  });

  it('rejects two regions in one annotation', async () => {
    const region = { region_info: { bounding_box: CUP }, data: { concepts: [{ id: 'cup', value: 1 }] } };
    const result = await rejected('POST', '/v2/annotations', { annotations: [{ input_id: 'coffee', data: { regions: [region, region] } }] });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('TOO_MANY_REGIONS');
    expect(result.details).toBe(
      'annotations[0].data.regions has 2 regions, but an annotation contains one region, as in Clarifai. Send one annotation per box.',
    );
  });

  it('stores nothing when one annotation is invalid', async () => {
    const before = await userAnnotations('coffee');

    const result = await rejected('POST', '/v2/annotations', {
      annotations: [regionAnnotation('coffee', CUP, [{ id: 'cup', value: 1 }]), regionAnnotation('coffee', { ...CUP, right_col: 2 }, [{ id: 'cup', value: 1 }])],
    });

    expect(result.httpStatus).toBe(400);
    expect(result.details).toContain('annotations[1].data.regions[0].region_info.bounding_box.right_col 2 ');
    expect(await userAnnotations('coffee')).toEqual(before);
  });

  it('rejects a duplicate annotation id', async () => {
    await callApi(stack, 'POST', '/v2/annotations', { annotations: [regionAnnotation('coffee', CUP, [{ id: 'cup', value: 1 }], 'taken')] });

    const result = await rejected('POST', '/v2/annotations', { annotations: [regionAnnotation('coffee', CUP, [{ id: 'cup', value: 1 }], 'taken')] });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('ANNOTATION_DUPLICATE');
    expect(result.details).toBe(
      'annotations[0].id "taken" is already an annotation of input "coffee". Change it with PATCH /v2/annotations, or choose another id.',
    );
  });

  it('rejects deleting the input-level annotation', async () => {
    const [inputLevel] = await userAnnotations('cat');

    const result = await rejected('DELETE', `/v2/inputs/cat/annotations/${inputLevel?.id}`);

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INPUT_LEVEL_ANNOTATION_NOT_DELETABLE');
    expect(result.details).toContain(`Annotation "${inputLevel?.id}" is the input-level annotation of input "cat"`);
  });

  it('rejects deleting a model annotation', async () => {
    const { body } = await callApi(stack, 'GET', '/v2/inputs/cat/annotations');
    const detection = body.annotations.find((annotation: any) => annotation.worker?.model.id === 'general-object-detection');

    const result = await rejected('DELETE', `/v2/inputs/cat/annotations/${detection.id}`);

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('MODEL_ANNOTATION_READ_ONLY');
    expect(result.details).toBe(
      `Annotation "${detection.id}" of input "cat" was written by model "general-object-detection", and only user annotations can be changed or deleted. Label the input with POST /v2/annotations instead.`,
    );
  });

  it('rejects patching an unknown annotation', async () => {
    const result = await rejected('PATCH', '/v2/annotations', {
      action: 'merge',
      annotations: [{ input_id: 'coffee', id: 'missing', data: { regions: [{ data: { concepts: [{ id: 'cup', value: 1 }] } }] } }],
    });

    expect(result.httpStatus).toBe(404);
    expect(result.code).toBe('ANNOTATION_NOT_FOUND');
  });

  it('rejects regions on the input-level annotation', async () => {
    const [inputLevel] = await userAnnotations('cat');

    const result = await rejected('PATCH', '/v2/annotations', {
      action: 'merge',
      annotations: [regionAnnotation('cat', CAT_HEAD, [{ id: 'cat', value: 1 }], inputLevel?.id)],
    });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_ANNOTATION_DATA');
    expect(result.details).toContain('is the input-level annotation, which labels the whole image.');
  });

  it('rejects an unknown action', async () => {
    const result = await rejected('PATCH', '/v2/annotations', { action: 'replace', annotations: [] });

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_ACTION');
    expect(result.details).toBe('action "replace" is not supported for annotations. Use "merge", "overwrite" or "remove".');
  });

  it('rejects listing an unknown input', async () => {
    const result = await rejected('GET', '/v2/annotations?input_ids=cat,nowhere');

    expect(result.httpStatus).toBe(404);
    expect(result.code).toBe('INPUT_NOT_FOUND');
    expect(result.details).toContain('Input "nowhere" was not found');
  });

  it('rejects a bad list_all_annotations', async () => {
    const result = await rejected('GET', '/v2/annotations?list_all_annotations=yes');

    expect(result.httpStatus).toBe(400);
    expect(result.code).toBe('INVALID_QUERY_PARAMETER');
    expect(result.details).toBe('Query parameter list_all_annotations="yes" is invalid. Use true or false.');
  });
});
