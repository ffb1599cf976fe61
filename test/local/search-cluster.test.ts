import { describe, expect, it } from 'vitest';
import { callApi, imageBase64, useLocalStack, waitForInput, waitForVersion } from './helpers.ts';
import { PHOTOS, addPhotos, alteredCopy, hitIds, imageRank, searchBody } from './search-helpers.ts';

const local = useLocalStack(addPhotos);

async function createClusterer(id: string, metadata: Record<string, unknown>) {
  return callApi(local.stack, 'POST', '/v2/models', {
    model: { id, model_type_id: 'clusterer', output_info: { output_config: { model_metadata: metadata } } },
  });
}

/** Queues a new version and returns it as the response shows it. */
async function queueTraining(modelId: string) {
  const response = await callApi(local.stack, 'POST', `/v2/models/${modelId}/versions`, {});
  expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
  return response.body.model.model_version;
}

/** Queues a new version and returns it once trained or failed. */
async function train(modelId: string) {
  const queued = await queueTraining(modelId);
  expect(queued.status.code).toBe(21103);
  return waitForVersion(local.stack, modelId, queued.id, { timeoutMs: 120_000, intervalMs: 100 });
}

async function clusterOf(modelId: string, base64: string, versionId?: string): Promise<string> {
  const route = versionId === undefined ? `/v2/models/${modelId}/outputs` : `/v2/models/${modelId}/versions/${versionId}/outputs`;
  const response = await callApi(local.stack, 'POST', route, { inputs: [{ data: { image: { base64 } } }] });
  expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
  return response.body.outputs[0].data.clusters[0].id;
}

async function searchByAlteredCopy(file: string): Promise<string[]> {
  const response = await callApi(local.stack, 'POST', '/v2/annotations/searches', searchBody({ ranks: [imageRank(await alteredCopy(file))] }));
  expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
  return hitIds(response.body);
}

describe('clusterer', () => {
  let firstVersion: string;

  it('creates a clusterer model', async () => {
    const created = await createClusterer('groups', { k: 3 });

    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);
    expect(created.body.model.model_type_id).toBe('clusterer');
    expect(created.body.model.output_info.output_config.model_metadata).toEqual({ k: 3, embedding_model_id: 'general-image-embedding' });
  });

  it('reports no version before training', async () => {
    const described = await callApi(local.stack, 'GET', '/v2/models/groups');

    expect(described.body.model.model_version.status.code).toBe(21102);
    expect(described.body.model.model_version.id).toBeUndefined();
  });

  it('rejects predict before training', async () => {
    const response = await callApi(local.stack, 'POST', '/v2/models/groups/outputs', { inputs: [{ data: { image: { base64: imageBase64('chelsea.jpg') } } }] });

    expect(response.httpStatus).toBe(400);
    expect(response.body.status.error_code).toBe('MODEL_NOT_TRAINED');
    expect(response.body.status.details).toMatch(/Model groups has no trained version\. Train one with POST \/v2\/models\/groups\/versions/);
  });

  it('queues training off the request', async () => {
    const queued = await queueTraining('groups');

    expect(queued.status.code).toBe(21103);
    expect(queued.train_info.search_index).toBe('pending');
    await local.stack.idle();
    const event = local.stack.events().find((found) => found.detail.version_id === queued.id);
    expect(event?.eventBusName).toBe(local.stack.eventBusName);
    expect(event?.source).toBe('percept');
    expect(event?.['detail-type']).toBe('Clusterer Version Queued');
    expect(event?.detail).toEqual({ app_id: 'main', model_id: 'groups', version_id: queued.id });
    expect(local.stack.invocationCounts()['percept-cluster-train-version']).toBeGreaterThanOrEqual(1);
    firstVersion = (await waitForVersion(local.stack, 'groups', queued.id, { timeoutMs: 120_000, intervalMs: 100 })).id;
  });

  it('reports the trained version', async () => {
    const described = await callApi(local.stack, 'GET', '/v2/models/groups');

    expect(described.body.model.model_version.id).toBe(firstVersion);
    expect(described.body.model.model_version.status.code).toBe(21100);
  });

  it('trains k-means on the app embeddings', async () => {
    const version = await callApi(local.stack, 'GET', `/v2/models/groups/versions/${firstVersion}`).then((response) => response.body.model_version);

    expect(version.status.code).toBe(21100);
    expect(version.train_info.k).toBe(3);
    expect(version.train_info.num_dimensions).toBe(120);
    expect(version.train_info.cluster_sizes).toHaveLength(3);
    expect(version.train_info.cluster_sizes.reduce((sum: number, size: number) => sum + size, 0)).toBe(PHOTOS.length);
    expect(version.train_info.search_index).toBe('active');
    expect(version.total_input_count).toBe(PHOTOS.length);
  });

  it('predicts the cluster of the original for an altered copy', async () => {
    for (const photo of PHOTOS) {
      const original = await clusterOf('groups', imageBase64(photo.file));
      const altered = await clusterOf('groups', await alteredCopy(photo.file));

      expect(original).toMatch(/^[0-2]$/);
      expect(altered, photo.file).toBe(original);
    }
  });

  it('puts the two text scans in one cluster', async () => {
    expect(await clusterOf('groups', imageBase64('page.png'))).toBe(await clusterOf('groups', imageBase64('text.png')));
  });

  it('searches through the cluster lists', async () => {
    for (const photo of PHOTOS) {
      expect((await searchByAlteredCopy(photo.file))[0], photo.file).toBe(photo.id);
    }
  });

  it('adds new inputs to the trained lists', async () => {
    const added = await callApi(local.stack, 'POST', '/v2/inputs', {
      inputs: [{ id: 'astronaut-copy', data: { image: { base64: await alteredCopy('astronaut.jpg') } } }],
    });
    expect(added.httpStatus).toBe(200);
    await waitForInput(local.stack, 'astronaut-copy');

    const ids = await searchByAlteredCopy('astronaut.jpg');

    expect(ids.slice(0, 2).sort()).toEqual(['astronaut', 'astronaut-copy']);
    expect(ids).toHaveLength(PHOTOS.length + 1);
  });

  it('keeps searching while a new version trains', async () => {
    const queued = await queueTraining('groups');
    const searches: string[][] = [];
    let version = queued;
    // Search at least twice, and until the version has left the queue and training.
    while (version.status.code === 21103 || version.status.code === 21101 || searches.length < 2) {
      searches.push(await searchByAlteredCopy('rocket.jpg'));
      version = (await callApi(local.stack, 'GET', `/v2/models/groups/versions/${queued.id}`)).body.model_version;
    }

    expect(version.status.code).toBe(21100);
    for (const ids of searches) {
      expect(ids[0]).toBe('rocket');
      expect(ids).toHaveLength(PHOTOS.length + 1);
    }
    expect(version.train_info.search_index).toBe('active');
    expect(version.total_input_count).toBe(PHOTOS.length + 1);
    const previous = await callApi(local.stack, 'GET', `/v2/models/groups/versions/${firstVersion}`);
    expect(previous.body.model_version.train_info.search_index).toBe('inactive');
    expect((await searchByAlteredCopy('coffee.jpg'))[0]).toBe('coffee');
  });

  it('still predicts with the previous version', async () => {
    const cluster = await clusterOf('groups', imageBase64('rocket.jpg'), firstVersion);

    expect(cluster).toMatch(/^[0-2]$/);
  });

  it('lists versions newest first', async () => {
    const listed = await callApi(local.stack, 'GET', '/v2/models/groups/versions');

    expect(listed.httpStatus).toBe(200);
    expect(listed.body.model_versions).toHaveLength(2);
    expect(listed.body.model_versions[1].id).toBe(firstVersion);
    expect(listed.body.model_versions.map((version: any) => version.train_info.search_index)).toEqual(['active', 'inactive']);
  });

  it('searches exactly after the active version is deleted', async () => {
    const listed = await callApi(local.stack, 'GET', '/v2/models/groups/versions');
    const active = listed.body.model_versions[0].id;

    const deleted = await callApi(local.stack, 'DELETE', `/v2/models/groups/versions/${active}`);
    const ids = await searchByAlteredCopy('camera.jpg');

    expect(deleted.httpStatus).toBe(200);
    expect(ids[0]).toBe('camera');
    expect(ids).toHaveLength(PHOTOS.length + 1);
    const missing = await callApi(local.stack, 'GET', `/v2/models/groups/versions/${active}`);
    expect(missing.httpStatus).toBe(404);
  });
});

describe('clusterer errors', () => {
  it('fails training with more clusters than inputs', async () => {
    await createClusterer('too-many', { k: 50 });

    const version = await train('too-many');

    expect(version.status.code).toBe(21106);
    expect(version.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(version.status.details).toMatch(/asks for k = 50 clusters, but 8 vectors are available to train on/);
  });

  it('rejects invalid parameters', async () => {
    const cases = [
      { metadata: { k: 0 }, message: /model_metadata\.k must be a whole number of clusters from 1 to 10000/ },
      { metadata: { k: 2.5 }, message: /model_metadata\.k must be a whole number of clusters/ },
      { metadata: { iterations: 'many' }, message: /model_metadata\.iterations must be a whole number of k-means iterations from 1 to 100/ },
      { metadata: { clusters: 3 }, message: /model_metadata\.clusters is not a clusterer parameter/ },
    ];
    for (const { metadata, message } of cases) {
      const response = await createClusterer('bad', metadata);

      expect(response.httpStatus, JSON.stringify(metadata)).toBe(400);
      expect(response.body.status.error_code).toBe('INVALID_MODEL_PARAMETER');
      expect(response.body.status.details).toMatch(message);
    }
  });

  it('rejects an embedding model that is not an embedder', async () => {
    const response = await createClusterer('by-detector', { embedding_model_id: 'general-object-detection' });

    expect(response.httpStatus).toBe(400);
    expect(response.body.status.error_code).toBe('INVALID_EMBEDDING_MODEL');
    expect(response.body.status.details).toMatch(/"general-object-detection" is a visual-detector, not a visual-embedder/);
  });

  it('has no metrics', async () => {
    const listed = await callApi(local.stack, 'GET', '/v2/models/too-many/versions');
    const versionId = listed.body.model_versions[0].id;

    const response = await callApi(local.stack, 'GET', `/v2/models/too-many/versions/${versionId}/metrics`);

    expect(response.httpStatus).toBe(404);
    expect(response.body.status.error_code).toBe('MODEL_METRICS_NOT_FOUND');
  });
});

describe('clusterer of face embeddings', () => {
  it('trains from annotations without driving the index', async () => {
    // No workflow stores face embeddings, so there is nothing to train on.
    await createClusterer('faces', { embedding_model_id: 'face-embedding', k: 2 });

    const version = await train('faces');

    expect(version.status.code).toBe(21110);
    expect(version.status.error_code).toBe('MODEL_TRAINING_NO_DATA');
    expect(version.status.details).toMatch(/has no input with a face-embedding embedding yet/);
    expect(version.train_info.search_index).toBe('not_indexed');
  });
});
