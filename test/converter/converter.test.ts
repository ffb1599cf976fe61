import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertTfjsGraphModel } from '../../converter/tfjs-to-onnx.ts';
import { attr, type GraphNodeSpec, HUMAN_MODELS, runOnnx, seededValues, writeGraphModel } from './helpers.ts';

const BLAZEFACE = path.join(HUMAN_MODELS, 'blazeface.json');

const input: GraphNodeSpec = { name: 'x', op: 'Placeholder', attr: { dtype: attr.type('DT_FLOAT'), shape: attr.shape([1, 4, 4, 2]) } };

async function withGraph<T>(nodes: GraphNodeSpec[], run: (modelJsonPath: string) => Promise<T>): Promise<T> {
  const { modelJsonPath, cleanup } = await writeGraphModel([input, ...nodes], [{ name: 'w', shape: [1, 1, 2, 2], dtype: 'float32', values: [1, 2, 3, 4] }]);
  try {
    return await run(modelJsonPath);
  } finally {
    await cleanup();
  }
}

describe('convertTfjsGraphModel errors', () => {
  it('rejects an unsupported op', async () => {
    const nodes = [
      { name: 'relu', op: 'Relu', input: ['x'] },
      { name: 'angle', op: 'Atan2', input: ['relu', 'x'] },
      { name: 'y', op: 'Bucketize', input: ['angle'] },
    ];

    await withGraph(nodes, (modelJsonPath) =>
      expect(convertTfjsGraphModel(modelJsonPath)).rejects.toThrow(
        expect.objectContaining({
          code: 'TFJS_OP_UNSUPPORTED',
          message:
            'Cannot convert node angle: the converter has no mapping for op Atan2 (the graph also uses unsupported ops Bucketize). ' +
            'Convert only the part of the graph before it (`cutAt` or `outputs`), or add a mapper for the op in converter/ops.',
        }),
      ),
    );
  });

  it('converts the graph before an unsupported op', async () => {
    const nodes = [
      { name: 'relu', op: 'Relu', input: ['x'] },
      { name: 'y', op: 'Atan2', input: ['relu', 'x'] },
    ];

    const converted = await withGraph(nodes, (modelJsonPath) => convertTfjsGraphModel(modelJsonPath, { cutAt: 'relu' }));

    expect(converted.outputs).toEqual([{ name: 'relu', shape: [1, 4, 4, 2], dtype: 'float32' }]);
  });

  it('rejects an unsupported attribute value', async () => {
    const nodes = [
      {
        name: 'y',
        op: 'Conv2D',
        input: ['x', 'w'],
        attr: { strides: attr.ints([1, 1, 1, 1]), padding: attr.string('VALID'), data_format: attr.string('NCHW') },
      },
    ];

    await withGraph(nodes, (modelJsonPath) =>
      expect(convertTfjsGraphModel(modelJsonPath)).rejects.toThrow(
        expect.objectContaining({
          code: 'TFJS_OP_UNSUPPORTED',
          message:
            'Cannot convert node y (op Conv2D): data_format NCHW is not NHWC. ' +
            'Convert only the part of the graph before it (`cutAt` or `outputs`), or add the case to converter/ops.',
        }),
      ),
    );
  });

  it('rejects a missing weight shard', async () => {
    await withGraph([{ name: 'y', op: 'Relu', input: ['x'] }], async (modelJsonPath) => {
      await rm(path.join(path.dirname(modelJsonPath), 'weights.bin'));

      await expect(convertTfjsGraphModel(modelJsonPath)).rejects.toThrow(
        expect.objectContaining({
          code: 'TFJS_WEIGHTS_MISSING',
          message:
            `Weight shard weights.bin of ${modelJsonPath} cannot be read (ENOENT). ` +
            'Reinstall the package that ships the model, or put the shard next to model.json.',
        }),
      );
    });
  });

  it('rejects a truncated weight shard', async () => {
    await withGraph([{ name: 'y', op: 'Relu', input: ['x'] }], async (modelJsonPath) => {
      await truncate(path.join(path.dirname(modelJsonPath), 'weights.bin'), 10);

      await expect(convertTfjsGraphModel(modelJsonPath)).rejects.toThrow(
        expect.objectContaining({
          code: 'TFJS_WEIGHTS_MISSING',
          message:
            `The weight shards of ${modelJsonPath} (weights.bin) hold 10 bytes, but weight w needs bytes 0 to 16. ` +
            'A shard is truncated or from another model version: reinstall the package.',
        }),
      );
    });
  });

  it('rejects a layers model', async () => {
    await withGraph([], async (modelJsonPath) => {
      const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as Record<string, unknown>;
      await writeFile(modelJsonPath, JSON.stringify({ ...json, format: 'layers-model' }));

      await expect(convertTfjsGraphModel(modelJsonPath)).rejects.toThrow(
        expect.objectContaining({
          code: 'TFJS_MODEL_INVALID',
          message: `${modelJsonPath} is not a valid TF.js graph model: its format is "layers-model", and only "graph-model" is supported.`,
        }),
      );
    });
  });

  it('rejects an unknown cutAt node', async () => {
    await expect(convertTfjsGraphModel(BLAZEFACE, { cutAt: 'StatefulPartitionedCall/functional_1/conv2d_99/BiasAdd' })).rejects.toThrow(
      expect.objectContaining({
        code: 'TFJS_NODE_NOT_FOUND',
        message: expect.stringMatching(
          /^Node StatefulPartitionedCall\/functional_1\/conv2d_99\/BiasAdd named in cutAt does not exist in the model\. Similar node names: StatefulPartitionedCall\/functional_1\/conv2d_1\/BiasAdd, /,
        ),
      }),
    );
  });

  it.each([
    [{ opset: 13 }, 'opset 13 is not supported; use one of 18, 19, 20, 21.'],
    [{ batchSize: 0 }, 'batchSize must be a positive integer or "dynamic" (got 0).'],
    [{ cutAt: 'Identity', outputs: ['Identity'] }, 'Set either cutAt or outputs, not both: cutAt already names the only output.'],
    [{ globalPool: 'mean' as const }, 'globalPool needs exactly one output (cutAt), and the conversion has 4.'],
    [{ cutAt: 'Identity', globalPool: 'mean' as const }, 'globalPool needs an NHWC output of rank 4, and Identity has shape [1, 512, 1].'],
  ])('rejects options %j', async (options, message) => {
    await expect(convertTfjsGraphModel(BLAZEFACE, options)).rejects.toThrow(expect.objectContaining({ code: 'TFJS_OPTION_INVALID', message }));
  });
});

describe('convertTfjsGraphModel output', () => {
  it('is byte-identical across runs', async () => {
    const first = await convertTfjsGraphModel(path.join(HUMAN_MODELS, 'centernet.json'));
    const second = await convertTfjsGraphModel(path.join(HUMAN_MODELS, 'centernet.json'));

    expect(Buffer.from(second.onnx).equals(Buffer.from(first.onnx))).toBe(true);
  });

  it('names inputs and outputs after TF tensors', async () => {
    const converted = await convertTfjsGraphModel(path.join(HUMAN_MODELS, 'gear.json'));

    expect(converted.inputs).toEqual([{ name: 'input_1', shape: [-1, 198, 198, 3], dtype: 'float32' }]);
    expect(converted.outputs).toEqual([
      { name: 'Identity_2', shape: [-1, 5], dtype: 'float32' },
      { name: 'Identity_1', shape: [-1, 2], dtype: 'float32' },
      { name: 'Identity', shape: [-1, 7], dtype: 'float32' },
    ]);
  });

  it('gives the same results at opset 21', async () => {
    const opset18 = await convertTfjsGraphModel(BLAZEFACE);
    const opset21 = await convertTfjsGraphModel(BLAZEFACE, { opset: 21 });
    const tensor = { dims: [1, 256, 256, 3], data: Float32Array.from(seededValues(256 * 256 * 3, 5)) };
    const names = opset18.outputs.map((output) => output.name);

    const expected = await runOnnx(opset18.onnx, 'input', tensor, names);
    const actual = await runOnnx(opset21.onnx, 'input', tensor, names);

    expect(actual).toEqual(expected);
  });
});
