/**
 * Hand-made graphs for the ops whose conversion is easy to get subtly wrong, each run by TF.js
 * (the reference) and by ONNX Runtime on the converted model. The graphs are a few ops on small
 * tensors, so float32 reordering moves results by a few ulps: 1e-5 of max(1, scale) allows that
 * and nothing more.
 */
import { describe, expect, it } from 'vitest';
import { type ConvertOptions, convertTfjsGraphModel } from '../../converter/tfjs-to-onnx.ts';
import {
  attr,
  compare,
  type GraphNodeSpec,
  loadTfjsModel,
  type OutputArray,
  runOnnx,
  runTfjs,
  seededValues,
  type WeightSpec,
  writeGraphModel,
} from './helpers.ts';

const TOLERANCE = 1e-5;

interface GraphCase {
  nodes: GraphNodeSpec[];
  weights?: WeightSpec[];
  inputShape: number[];
  outputs: string[];
  options?: ConvertOptions;
  /** Input shape of the run when it differs from the Placeholder's (a dynamic batch). */
  runShape?: number[];
  /** Multiplies the [-1, 1) input values. */
  inputScale?: number;
}

function placeholder(shape: number[]): GraphNodeSpec {
  return { name: 'x', op: 'Placeholder', attr: { dtype: attr.type('DT_FLOAT'), shape: attr.shape(shape) } };
}

function floatWeight(name: string, shape: number[], seed: number): WeightSpec {
  return { name, shape, dtype: 'float32', values: seededValues(shape.reduce((a, b) => a * b, 1), seed) };
}

function intWeight(name: string, values: number[], shape: number[] = [values.length]): WeightSpec {
  return { name, shape, dtype: 'int32', values };
}

/** Converts and runs a graph on both runtimes; returns both outputs after checking shapes and values. */
async function expectMatchesTfjs(graph: GraphCase): Promise<{ actual: OutputArray[]; expected: OutputArray[] }> {
  const { modelJsonPath, cleanup } = await writeGraphModel([placeholder(graph.inputShape), ...graph.nodes], graph.weights ?? []);
  try {
    const converted = await convertTfjsGraphModel(modelJsonPath, { outputs: graph.outputs, ...graph.options });
    const model = await loadTfjsModel(modelJsonPath);
    const dims = graph.runShape ?? graph.inputShape;
    const values = seededValues(dims.reduce((a, b) => a * b, 1), 7).map((value) => value * (graph.inputScale ?? 1));
    const input = { dims, data: Float32Array.from(values) };

    const expected = await runTfjs(model, 'x', input, graph.outputs);
    const actual = await runOnnx(converted.onnx, 'x', input, graph.outputs);
    model.dispose();

    graph.outputs.forEach((name, index) => {
      expect(actual[index]!.dims, `${name} shape`).toEqual(expected[index]!.dims);
      const difference = compare(actual[index]!, expected[index]!);
      expect(difference.maxAbs, `${name}: ${JSON.stringify(difference)}`).toBeLessThanOrEqual(TOLERANCE * Math.max(1, difference.scale));
    });
    return { actual, expected };
  } finally {
    await cleanup();
  }
}

interface ConvSpec {
  op?: string;
  input?: string;
  strides?: number;
  padding: 'SAME' | 'VALID' | 'EXPLICIT';
  explicit?: number[];
  dilation?: number;
  fused?: string[];
  extra?: string[];
  leakyAlpha?: number;
}

function conv(name: string, filter: string, spec: ConvSpec): GraphNodeSpec {
  const stride = spec.strides ?? 1;
  const dilation = spec.dilation ?? 1;
  return {
    name,
    op: spec.op ?? 'Conv2D',
    input: [spec.input ?? 'x', filter, ...(spec.extra ?? [])],
    attr: {
      strides: attr.ints([1, stride, stride, 1]),
      dilations: attr.ints([1, dilation, dilation, 1]),
      padding: attr.string(spec.padding),
      data_format: attr.string('NHWC'),
      explicit_paddings: attr.ints(spec.explicit ?? []),
      ...(spec.fused === undefined ? {} : { fused_ops: attr.strings(spec.fused), num_args: attr.int(spec.extra?.length ?? 0) }),
      ...(spec.leakyAlpha === undefined ? {} : { leakyrelu_alpha: attr.float(spec.leakyAlpha) }),
    },
  };
}

describe('convolution', () => {
  it.each([
    { padding: 'SAME', strides: 2, kernel: 3, size: [7, 9] },
    { padding: 'SAME', strides: 2, kernel: 4, size: [8, 7] },
    { padding: 'SAME', strides: 3, kernel: 2, size: [10, 11] },
    { padding: 'VALID', strides: 2, kernel: 3, size: [8, 9] },
  ] as const)('Conv2D $padding stride $strides kernel $kernel on $size', async ({ padding, strides, kernel, size }) => {
    await expectMatchesTfjs({
      inputShape: [1, size[0], size[1], 3],
      weights: [floatWeight('w', [kernel, kernel, 3, 4], 1)],
      nodes: [conv('y', 'w', { padding, strides })],
      outputs: ['y'],
    });
  });

  it('Conv2D SAME with dilation 2', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 9, 8, 2],
      weights: [floatWeight('w', [3, 3, 2, 3], 2)],
      nodes: [conv('y', 'w', { padding: 'SAME', dilation: 2 })],
      outputs: ['y'],
    });
  });

  it('Conv2D EXPLICIT asymmetric pads', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 6, 7, 2],
      weights: [floatWeight('w', [3, 3, 2, 3], 3)],
      nodes: [conv('y', 'w', { padding: 'EXPLICIT', strides: 2, explicit: [0, 0, 1, 2, 0, 1, 0, 0] })],
      outputs: ['y'],
    });
  });

  it.each([
    { padding: 'SAME', output: [1, 9, 8, 3] },
    { padding: 'SAME', output: [1, 10, 7, 3] },
    { padding: 'VALID', output: [1, 11, 9, 3] },
    { padding: 'VALID', output: [1, 12, 10, 3] },
  ] as const)('Conv2DBackpropInput $padding to $output', async ({ padding, output }) => {
    await expectMatchesTfjs({
      inputShape: [1, 5, 4, 2],
      weights: [intWeight('size', [...output]), floatWeight('w', [3, 3, 3, 2], 15)],
      nodes: [
        {
          name: 'y',
          op: 'Conv2DBackpropInput',
          input: ['size', 'w', 'x'],
          attr: { strides: attr.ints([1, 2, 2, 1]), padding: attr.string(padding), data_format: attr.string('NHWC') },
        },
      ],
      outputs: ['y'],
    });
  });

  it('DepthwiseConv2dNative multiplier 2, SAME stride 2', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 7, 8, 3],
      weights: [floatWeight('w', [3, 3, 3, 2], 4)],
      nodes: [conv('y', 'w', { op: 'DepthwiseConv2dNative', padding: 'SAME', strides: 2 })],
      outputs: ['y'],
    });
  });

  it.each(['Relu', 'Relu6', 'Elu', 'Sigmoid', 'LeakyRelu'])('_FusedConv2D BiasAdd + %s', async (activation) => {
    const { expected } = await expectMatchesTfjs({
      inputShape: [1, 5, 5, 3],
      inputScale: 8,
      weights: [floatWeight('w', [3, 3, 3, 4], 5), floatWeight('b', [4], 6)],
      nodes: [conv('y', 'w', { op: '_FusedConv2D', padding: 'SAME', fused: ['BiasAdd', activation], extra: ['b'], leakyAlpha: 0.3 })],
      outputs: ['y'],
    });
    // The input scale drives pre-activations past 6 and below 0, so each activation's bends are exercised.
    expect(Math.min(...expected[0]!.data)).toBeLessThan(activation === 'Relu' || activation === 'Relu6' ? 1e-9 : 0.5);
  });

  it('_FusedConv2D BiasAdd + Prelu', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 5, 6, 3],
      inputScale: 4,
      weights: [floatWeight('w', [1, 1, 3, 4], 7), floatWeight('b', [4], 8), floatWeight('alpha', [4], 9)],
      nodes: [conv('y', 'w', { op: '_FusedConv2D', padding: 'VALID', fused: ['BiasAdd', 'Prelu'], extra: ['b', 'alpha'] })],
      outputs: ['y'],
    });
  });

  it('FusedDepthwiseConv2dNative BiasAdd + Relu6', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 6, 5, 4],
      inputScale: 8,
      weights: [floatWeight('w', [3, 3, 4, 1], 10), floatWeight('b', [4], 11)],
      nodes: [conv('y', 'w', { op: 'FusedDepthwiseConv2dNative', padding: 'SAME', strides: 2, fused: ['BiasAdd', 'Relu6'], extra: ['b'] })],
      outputs: ['y'],
    });
  });

  it.each([
    { op: 'MaxPool', padding: 'SAME' },
    { op: 'AvgPool', padding: 'SAME' },
    { op: 'AvgPool', padding: 'VALID' },
  ])('$op $padding 3x3 stride 2 on 7x8', async ({ op, padding }) => {
    await expectMatchesTfjs({
      inputShape: [1, 7, 8, 2],
      nodes: [
        {
          name: 'y',
          op,
          input: ['x'],
          attr: {
            ksize: attr.ints([1, 3, 3, 1]),
            strides: attr.ints([1, 2, 2, 1]),
            padding: attr.string(padding),
            data_format: attr.string('NHWC'),
          },
        },
      ],
      outputs: ['y'],
    });
  });
});

function stridedSlice(name: string, spec: { begin: number[]; end: number[]; strides: number[]; masks: Partial<Record<string, number>> }): {
  nodes: GraphNodeSpec[];
  weights: WeightSpec[];
} {
  return {
    weights: [intWeight(`${name}/begin`, spec.begin), intWeight(`${name}/end`, spec.end), intWeight(`${name}/strides`, spec.strides)],
    nodes: [
      {
        name,
        op: 'StridedSlice',
        input: ['x', `${name}/begin`, `${name}/end`, `${name}/strides`],
        attr: Object.fromEntries(
          ['begin_mask', 'end_mask', 'ellipsis_mask', 'new_axis_mask', 'shrink_axis_mask'].map((mask) => [mask, attr.int(spec.masks[mask] ?? 0)]),
        ),
      },
    ],
  };
}

describe('StridedSlice', () => {
  it.each([
    { label: 'x[:, 1:-1:2]', begin: [0, 1], end: [0, -1], strides: [1, 2], masks: { begin_mask: 1, end_mask: 1 }, shape: [2, 5, 6, 4] },
    { label: 'x[..., 1]', begin: [0, 1], end: [0, 2], strides: [1, 1], masks: { ellipsis_mask: 1, shrink_axis_mask: 2 }, shape: [2, 5, 6, 4] },
    {
      label: 'x[:, newaxis, 2:, ::-1]',
      begin: [0, 0, 2, 0],
      end: [0, 0, 0, 0],
      strides: [1, 1, 1, -1],
      masks: { begin_mask: 0b1001, end_mask: 0b1101, new_axis_mask: 0b10 },
      shape: [2, 5, 6, 4],
    },
    { label: 'x[:, 4:0:-2]', begin: [0, 4], end: [0, 0], strides: [1, -2], masks: { begin_mask: 1, end_mask: 1 }, shape: [2, 5, 6, 4] },
    { label: 'x[:, -1]', begin: [0, -1], end: [0, 0], strides: [1, 1], masks: { begin_mask: 1, end_mask: 1, shrink_axis_mask: 2 }, shape: [2, 5, 3] },
    { label: 'x[1, ..., 2:9]', begin: [1, 0, 2], end: [2, 0, 9], strides: [1, 1, 1], masks: { ellipsis_mask: 2, shrink_axis_mask: 1 }, shape: [2, 5, 6, 4] },
  ])('$label', async ({ begin, end, strides, masks, shape }) => {
    const { nodes, weights } = stridedSlice('y', { begin, end, strides, masks });

    await expectMatchesTfjs({ inputShape: shape, nodes, weights, outputs: ['y'] });
  });

  it('x[:, 1:3] with a dynamic batch', async () => {
    const { nodes, weights } = stridedSlice('y', { begin: [0, 1], end: [0, 3], strides: [1, 1], masks: { begin_mask: 1, end_mask: 1 } });

    await expectMatchesTfjs({ inputShape: [-1, 5, 2], runShape: [3, 5, 2], nodes, weights, outputs: ['y'] });
  });
});

describe('resize', () => {
  const modes = [
    { align_corners: false, half_pixel_centers: false },
    { align_corners: true, half_pixel_centers: false },
    { align_corners: false, half_pixel_centers: true },
  ];
  const cases = ['ResizeBilinear', 'ResizeNearestNeighbor'].flatMap((op) =>
    modes.flatMap((mode) => [
      { op, ...mode, from: [5, 7], to: [8, 11] },
      { op, ...mode, from: [9, 6], to: [4, 3] },
      { op, ...mode, from: [4, 6], to: [8, 12] },
      { op, ...mode, from: [7, 5], to: [3, 9] },
    ]),
  );

  it.each(cases)('$op align $align_corners half $half_pixel_centers $from to $to', async ({ op, align_corners, half_pixel_centers, from, to }) => {
    await expectMatchesTfjs({
      inputShape: [1, from[0]!, from[1]!, 2],
      weights: [intWeight('size', to)],
      nodes: [
        {
          name: 'y',
          op,
          input: ['x', 'size'],
          attr: { align_corners: attr.bool(align_corners), half_pixel_centers: attr.bool(half_pixel_centers) },
        },
      ],
      outputs: ['y'],
    });
  });
});

describe('other ops', () => {
  it('_FusedMatMul transpose_b with BiasAdd + Relu', async () => {
    await expectMatchesTfjs({
      inputShape: [2, 6],
      weights: [floatWeight('w', [4, 6], 12), floatWeight('b', [4], 13)],
      nodes: [
        {
          name: 'y',
          op: '_FusedMatMul',
          input: ['x', 'w', 'b'],
          attr: { transpose_a: attr.bool(false), transpose_b: attr.bool(true), fused_ops: attr.strings(['BiasAdd', 'Relu']), num_args: attr.int(1) },
        },
      ],
      outputs: ['y'],
    });
  });

  it('Reshape with batch 1 spelled out', async () => {
    const weights = [intWeight('shape', [1, 12])];
    const nodes = [{ name: 'y', op: 'Reshape', input: ['x', 'shape'] }];
    await expectMatchesTfjs({ inputShape: [-1, 2, 2, 3], runShape: [1, 2, 2, 3], weights, nodes, outputs: ['y'] });
    const { modelJsonPath, cleanup } = await writeGraphModel([placeholder([-1, 2, 2, 3]), ...nodes], weights);
    try {
      const converted = await convertTfjsGraphModel(modelJsonPath);
      const input = { dims: [3, 2, 2, 3], data: Float32Array.from(seededValues(36, 3)) };

      const [output] = await runOnnx(converted.onnx, 'x', input, ['y']);

      // TF itself would reject batch 3 here; the converted graph reads the 1 as the batch.
      expect(converted.outputs).toEqual([{ name: 'y', shape: [-1, 12], dtype: 'float32' }]);
      expect(output!.dims).toEqual([3, 12]);
      expect(Array.from(output!.data)).toEqual(Array.from(input.data));
    } finally {
      await cleanup();
    }
  });

  it('reductions, Squeeze, ExpandDims, ConcatV2 and Pad', async () => {
    await expectMatchesTfjs({
      inputShape: [2, 3, 4, 5],
      weights: [
        intWeight('hw', [1, 2]),
        intWeight('last', [-1]),
        intWeight('zero', [0], []),
        intWeight('concat_axis', [-1], []),
        intWeight('paddings', [0, 0, 1, 2, 0, 1, 2, 0], [4, 2]),
      ],
      nodes: [
        { name: 'mean', op: 'Mean', input: ['x', 'hw'], attr: { keep_dims: attr.bool(true) } },
        { name: 'sum', op: 'Sum', input: ['x', 'last'], attr: { keep_dims: attr.bool(false) } },
        { name: 'max', op: 'Max', input: ['x', 'hw'], attr: { keep_dims: attr.bool(true) } },
        { name: 'squeezed', op: 'Squeeze', input: ['mean'], attr: { squeeze_dims: attr.ints([1, 2]) } },
        { name: 'expanded', op: 'ExpandDims', input: ['squeezed', 'zero'] },
        { name: 'concat', op: 'ConcatV2', input: ['mean', 'max', 'concat_axis'], attr: { N: attr.int(2) } },
        { name: 'padded', op: 'Pad', input: ['x', 'paddings'] },
      ],
      outputs: ['sum', 'expanded', 'concat', 'padded'],
    });
  });

  it('TopKV2, GatherV2, FloorDiv, FloorMod and Cast', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 12],
      inputScale: 20,
      weights: [intWeight('k', [4], []), intWeight('divisor', [-3], []), intWeight('axis', [1], []), intWeight('indices', [3, 0, 3], [3])],
      nodes: [
        { name: 'top', op: 'TopKV2', input: ['x', 'k'], attr: { sorted: attr.bool(true) } },
        { name: 'ints', op: 'Cast', input: ['x'], attr: { SrcT: attr.type('DT_FLOAT'), DstT: attr.type('DT_INT32') } },
        { name: 'quotient', op: 'FloorDiv', input: ['ints', 'divisor'] },
        { name: 'remainder', op: 'FloorMod', input: ['ints', 'divisor'] },
        { name: 'gathered', op: 'GatherV2', input: ['x', 'indices', 'axis'], attr: { batch_dims: attr.int(0) } },
      ],
      outputs: ['top', 'top:1', 'quotient', 'remainder', 'gathered'],
    });
  });

  it('unary and binary math ops', async () => {
    const unary = ['Abs', 'Neg', 'Exp', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Erf', 'Softplus', 'Tanh', 'Sigmoid', 'Relu6', 'Elu'];
    const positive = ['Log', 'Sqrt', 'Rsqrt', 'Reciprocal'];
    await expectMatchesTfjs({
      inputShape: [2, 3, 4],
      inputScale: 4,
      weights: [floatWeight('other', [4], 16)],
      nodes: [
        ...unary.map((op) => ({ name: op, op, input: ['x'] })),
        { name: 'abs_plus', op: 'AddV2', input: ['Abs', 'Exp'] },
        ...positive.map((op) => ({ name: op, op, input: ['abs_plus'] })),
        { name: 'LeakyRelu', op: 'LeakyRelu', input: ['x'], attr: { alpha: attr.float(0.1) } },
        { name: 'Pow', op: 'Pow', input: ['abs_plus', 'other'] },
        { name: 'SquaredDifference', op: 'SquaredDifference', input: ['x', 'other'] },
        { name: 'Minimum', op: 'Minimum', input: ['x', 'other'] },
        { name: 'RealDiv', op: 'RealDiv', input: ['x', 'abs_plus'] },
        { name: 'LogSoftmax', op: 'LogSoftmax', input: ['x'] },
        { name: 'Greater', op: 'Greater', input: ['x', 'other'] },
        { name: 'greater_float', op: 'Cast', input: ['Greater'], attr: { DstT: attr.type('DT_FLOAT') } },
      ],
      outputs: [...unary, ...positive, 'LeakyRelu', 'Pow', 'SquaredDifference', 'Minimum', 'RealDiv', 'LogSoftmax', 'greater_float'],
    });
  });

  it('Pack, Unpack, Split, Tile, Slice, Transpose and friends', async () => {
    await expectMatchesTfjs({
      inputShape: [2, 4, 6],
      weights: [
        intWeight('split_axis', [2], []),
        intWeight('sizes', [1, -1, 2]),
        intWeight('multiples', [1, 2, 1]),
        intWeight('begin', [0, 1, 2]),
        intWeight('size', [-1, 2, 3]),
        intWeight('perm', [2, 0, 1]),
        intWeight('mirror', [0, 0, 1, 2, 2, 1], [3, 2]),
        intWeight('argmax_axis', [1], []),
        { name: 'pad_value', shape: [], dtype: 'float32', values: [0.5] },
        floatWeight('matrix', [2, 6, 3], 17),
      ],
      nodes: [
        { name: 'unpacked', op: 'Unpack', input: ['x'], attr: { num: attr.int(2), axis: attr.int(0) } },
        { name: 'packed', op: 'Pack', input: ['unpacked:1', 'unpacked'], attr: { N: attr.int(2), axis: attr.int(1) } },
        { name: 'split', op: 'Split', input: ['split_axis', 'x'], attr: { num_split: attr.int(3) } },
        { name: 'splitv', op: 'SplitV', input: ['x', 'sizes', 'split_axis'], attr: { num_split: attr.int(3) } },
        { name: 'tiled', op: 'Tile', input: ['split:2', 'multiples'] },
        { name: 'sliced', op: 'Slice', input: ['x', 'begin', 'size'] },
        { name: 'transposed', op: 'Transpose', input: ['x', 'perm'] },
        { name: 'mirrored', op: 'MirrorPad', input: ['x', 'mirror'], attr: { mode: attr.string('REFLECT') } },
        { name: 'padded', op: 'PadV2', input: ['x', 'mirror', 'pad_value'] },
        { name: 'argmax', op: 'ArgMax', input: ['x', 'argmax_axis'], attr: { output_type: attr.type('DT_INT32') } },
        { name: 'product', op: 'BatchMatMulV2', input: ['x', 'matrix'], attr: { adj_x: attr.bool(false), adj_y: attr.bool(false) } },
      ],
      outputs: ['packed', 'split:1', 'splitv:1', 'tiled', 'sliced', 'transposed', 'mirrored', 'padded', 'argmax', 'product'],
    });
  });

  it('AddN and DepthToSpace', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 3, 2, 8],
      weights: [floatWeight('bias', [1, 3, 2, 8], 14)],
      nodes: [
        { name: 'sum', op: 'AddN', input: ['x', 'bias', 'x'], attr: { N: attr.int(3) } },
        { name: 'y', op: 'DepthToSpace', input: ['sum'], attr: { block_size: attr.int(2), data_format: attr.string('NHWC') } },
      ],
      outputs: ['y'],
    });
  });

  it('uint8 and float16 quantized weights', async () => {
    await expectMatchesTfjs({
      inputShape: [1, 4, 4, 2],
      weights: [
        { name: 'w', shape: [1, 1, 2, 3], dtype: 'float32', values: [0, 17, 128, 200, 255, 3], quantization: { dtype: 'uint8', scale: 0.01, min: -1.2 } },
        // float16 bit patterns of 1, -2.5, 0.000061035 (smallest normal) and 65504 (largest finite)
        { name: 'b', shape: [3], dtype: 'float32', values: [0x3c00, 0xc100, 0x0400], quantization: { dtype: 'float16' } },
        { name: 'big', shape: [1], dtype: 'float32', values: [0x7bff], quantization: { dtype: 'float16' } },
      ],
      nodes: [
        conv('y', 'w', { op: '_FusedConv2D', padding: 'VALID', fused: ['BiasAdd'], extra: ['b'] }),
        { name: 'scaled', op: 'Mul', input: ['y', 'big'] },
      ],
      outputs: ['scaled'],
    });
  });
});
