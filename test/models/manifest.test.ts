import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { getModel, listModels } from '#commons/models/catalog.ts';
import { toClarifaiModel } from '#commons/models/clarifai-model.ts';
import { InvalidManifestError, validateManifest } from '#commons/models/manifest.ts';
import { classifierJson } from './fake-manifests.ts';

function problemsOf(value: unknown): string[] {
  try {
    validateManifest(value, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidManifestError);
    const invalid = error as InvalidManifestError;
    expect(invalid.code).toBe('INVALID_MODEL_MANIFEST');
    expect(invalid.message).toMatch(/^Model manifest test\.json is invalid: /);
    return invalid.problems;
  }
  throw new Error('validateManifest accepted an invalid manifest');
}

describe('validateManifest', () => {
  it('accepts a valid manifest', () => {
    const manifest = validateManifest(classifierJson(), 'test.json');

    expect(manifest.id).toBe('test-classifier');
  });

  it('names each invalid field', () => {
    const json = classifierJson();
    const input = json.input as Record<string, unknown>;
    input.normalization = { scale: 1, mean: [0, 0, 0], std: [1, 0, 1] };
    delete input.tensor;
    (json.output as Record<string, unknown>).decoder = 'argmax';
    (json.source as Record<string, unknown>).sha256 = 'abc';

    const problems = problemsOf(json);

    expect(problems).toContain('input.normalization.std[1] must be a number > 0 (got 0)');
    expect(problems).toContain('input.tensor must be a non-empty string (got nothing)');
    expect(problems).toContain(
      'output.decoder must be one of softmax-concepts, sigmoid-concepts, binary-concepts, binned-concepts, ' +
        'detection-boxes, top-k-detections, anchor-boxes, text-probability-map, embedding (got "argmax")',
    );
    expect(problems).toContain('source.sha256 must be a string matching ^[0-9a-f]{64}$ (got "abc")');
    expect(problems).toHaveLength(4);
  });

  it('rejects a decoder of another model type', () => {
    const json = { ...classifierJson(), model_type_id: 'visual-embedder' };

    expect(problemsOf(json)).toEqual([
      'model_type_id must be visual-classifier for the softmax-concepts decoder (got "visual-embedder")',
    ]);
  });

  it('rejects duplicate concept ids', () => {
    const json = { ...classifierJson(), concepts: [{ id: 'cat', name: 'Cat' }, { id: 'cat', name: 'Kitten' }] };

    expect(problemsOf(json)).toEqual(['concepts[1].id must be unique (got "cat")']);
  });

  it('checks resize fields per mode', () => {
    const json = classifierJson();
    (json.input as Record<string, unknown>).resize = { mode: 'long-side-multiple', max_side: 960, multiple: 0 };

    expect(problemsOf(json)).toEqual(['input.resize.multiple must be an integer > 0 (got 0)']);
  });

  it('rejects a non-object', () => {
    expect(problemsOf([])).toEqual(['the manifest must be a JSON object (got [])']);
  });
});

describe('catalog', () => {
  it('lists every builtin manifest file', async () => {
    const files = (await readdir('models/builtin')).filter((file) => file.endsWith('.json'));

    const ids = listModels().map((manifest) => manifest.id);

    expect(ids.map((id) => `${id}.json`).sort()).toEqual(files.sort());
  });

  it('returns a model by id', () => {
    const manifest = getModel('ocr-text-detector');

    expect(manifest.model_type_id).toBe('visual-detector');
    expect(manifest.output.decoder).toBe('text-probability-map');
  });

  it('rejects an unknown model id', () => {
    expect(() => getModel('general-image-recognition')).toThrow(
      expect.objectContaining({
        code: 'MODEL_NOT_FOUND',
        statusCode: 21200,
        httpStatus: 404,
        message:
          'Model "general-image-recognition" does not exist. Available models: ocr-text-detector, ' +
          'ocr-text-orientation, general-object-detection, general-image-embedding, face-detection, face-embedding, ' +
          'face-age, face-gender, face-emotion.',
      }),
    );
  });
});

describe('toClarifaiModel', () => {
  it('builds the Clarifai model JSON', () => {
    const manifest = getModel('ocr-text-orientation');

    const model = toClarifaiModel(manifest, '491843a3c65de46295864c6815e41127');

    expect(model).toEqual({
      id: 'ocr-text-orientation',
      name: manifest.name,
      description: manifest.description,
      created_at: manifest.created_at,
      app_id: 'main',
      model_type_id: 'visual-classifier',
      output_info: {
        data: {
          concepts: [
            { id: 'rotation-0', name: 'upright', value: 1, app_id: 'main' },
            { id: 'rotation-180', name: 'upside down', value: 1, app_id: 'main' },
          ],
        },
      },
      model_version: {
        id: '491843a3c65de46295864c6815e41127',
        created_at: manifest.created_at,
        status: { code: 21100, description: 'Model is trained and ready' },
      },
    });
  });
});
