/**
 * Convolutions and pools. TF computes them in NHWC with SAME, VALID or EXPLICIT padding; ONNX
 * Conv and pools work in NCHW with explicit pads. SAME padding is turned into explicit pads
 * from the static input size, as TF does: total = max((ceil(in / stride) - 1) * stride +
 * (kernel - 1) * dilation + 1 - in, 0), with the smaller half at the top/left.
 */
import { attribute } from '../onnx/builder.ts';
import type { ConstantTensor } from '../tfjs/model.ts';
import { type OpContext, type TensorRef } from './context.ts';
import { transposeConstant } from './tensor-utils.ts';

export interface SpatialGeometry {
  /** ONNX `pads`: [top, left, bottom, right]. */
  pads: number[];
  outHeight: number;
  outWidth: number;
}

/**
 * Computes ONNX pads and the output size of a 2-D window op over an NHWC input, following TF's
 * `GetWindowedOutputSizeVerbose`. Throws when SAME padding meets an unknown spatial size.
 */
export function windowGeometry(
  ctx: OpContext,
  inputShape: number[],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): SpatialGeometry {
  const padding = ctx.attrs.string('padding', 'VALID').toUpperCase();
  const explicit = ctx.attrs.ints('explicit_paddings', []);
  const begin: number[] = [];
  const end: number[] = [];
  const out: number[] = [];

  for (let axis = 0; axis < 2; axis++) {
    const size = inputShape[axis + 1]!;
    const effectiveKernel = (kernel[axis]! - 1) * dilations[axis]! + 1;
    const stride = strides[axis]!;
    if (padding === 'SAME') {
      if (size < 0) {
        if (effectiveKernel !== 1 || stride !== 1) {
          throw ctx.unsupported('SAME padding needs a static input height and width, and this input has an unknown size');
        }
        begin.push(0);
        end.push(0);
        out.push(-1);
        continue;
      }
      const outSize = Math.ceil(size / stride);
      const total = Math.max((outSize - 1) * stride + effectiveKernel - size, 0);
      begin.push(Math.floor(total / 2));
      end.push(total - Math.floor(total / 2));
      out.push(outSize);
    } else if (padding === 'VALID' || padding === 'EXPLICIT') {
      const before = padding === 'EXPLICIT' ? (explicit[(axis + 1) * 2] ?? 0) : 0;
      const after = padding === 'EXPLICIT' ? (explicit[(axis + 1) * 2 + 1] ?? 0) : 0;
      begin.push(before);
      end.push(after);
      out.push(size < 0 ? -1 : Math.floor((size + before + after - effectiveKernel) / stride) + 1);
    } else {
      throw ctx.unsupported(`padding ${padding} is not SAME, VALID or EXPLICIT`);
    }
  }
  return { pads: [begin[0]!, begin[1]!, end[0]!, end[1]!], outHeight: out[0]!, outWidth: out[1]! };
}

function checkNhwc(ctx: OpContext): void {
  const format = ctx.attrs.string('data_format', 'NHWC');
  if (format !== 'NHWC') {
    throw ctx.unsupported(`data_format ${format} is not NHWC`);
  }
}

function spatialPair(ctx: OpContext, name: string): [number, number] {
  const values = ctx.attrs.ints(name, [1, 1, 1, 1]);
  if (values.length !== 4 || values[0] !== 1 || values[3] !== 1) {
    throw ctx.unsupported(`${name} [${values.join(', ')}] must be [1, h, w, 1]`);
  }
  return [values[1]!, values[2]!];
}

/** The parts that TF's grappler fused into `_FusedConv2D`, `FusedDepthwiseConv2dNative` or `_FusedMatMul`. */
export interface FusedParts {
  bias?: TensorRef;
  activation?: string;
  /** Input of the activation: the alpha of Prelu. */
  activationInput?: TensorRef;
  leakyAlpha: number;
}

/**
 * Reads `fused_ops` and the extra inputs after the first two, as tfjs-converter's
 * `fusedConvAndDepthWiseParams` does: [BiasAdd] or [BiasAdd, activation], and Prelu takes alpha
 * as one more input. FusedBatchNorm is rejected, as TF.js rejects it.
 */
export function readFusedParts(ctx: OpContext): FusedParts {
  const fusedOps = ctx.attrs.strings('fused_ops').map((op) => op.toLowerCase());
  const numArgs = ctx.attrs.int('num_args', ctx.inputs.length - 2);
  const extra = ctx.inputs.slice(2, 2 + numArgs);
  const [first, second, ...rest] = fusedOps;
  if (rest.length > 0) {
    throw ctx.unsupported(`fused_ops [${fusedOps.join(', ')}] has more than two ops`);
  }
  if (first === 'fusedbatchnorm') {
    throw ctx.unsupported('fused_ops with FusedBatchNorm is not supported (TF.js does not run it either)');
  }

  const parts: FusedParts = { leakyAlpha: ctx.attrs.float('leakyrelu_alpha', 0.2) };
  let activation: string | undefined;
  let argument = 0;
  if (first === 'biasadd') {
    parts.bias = extra[argument++];
    if (parts.bias === undefined) {
      throw ctx.unsupported('fused BiasAdd has no bias input');
    }
    activation = second;
  } else {
    activation = first;
    if (second !== undefined) {
      throw ctx.unsupported(`fused_ops [${fusedOps.join(', ')}] does not start with BiasAdd`);
    }
  }
  if (activation === 'prelu') {
    parts.activationInput = extra[argument];
    if (parts.activationInput === undefined) {
      throw ctx.unsupported('fused Prelu has no alpha input');
    }
  }
  if (activation !== undefined) {
    parts.activation = activation;
  }
  return parts;
}

/**
 * Applies a fused or standalone activation to `input` and writes `output`. `layout` is `nhwc`
 * when channels are the last axis and `nchw` when they are axis 1, so a Prelu alpha broadcasts right.
 */
export function emitActivation(
  ctx: OpContext,
  activation: string,
  input: string,
  output: string,
  options: { alpha?: TensorRef; leakyAlpha: number; layout: 'nhwc' | 'nchw' },
): void {
  switch (activation) {
    case 'relu':
      ctx.emit('Relu', [input], [output]);
      return;
    case 'relu6':
      ctx.emit('Clip', [input, ctx.graph.addFloat('zero', [0], []), ctx.graph.addFloat('six', [6], [])], [output]);
      return;
    case 'elu':
      ctx.emit('Elu', [input], [output], { alpha: attribute.float(1) });
      return;
    case 'leakyrelu':
      ctx.emit('LeakyRelu', [input], [output], { alpha: attribute.float(options.leakyAlpha) });
      return;
    case 'sigmoid':
      ctx.emit('Sigmoid', [input], [output]);
      return;
    case 'tanh':
      ctx.emit('Tanh', [input], [output]);
      return;
    case 'prelu': {
      const alpha = options.alpha;
      if (alpha === undefined) {
        throw ctx.unsupported('Prelu has no alpha');
      }
      ctx.emit('PRelu', [input, preluSlope(ctx, alpha, options.layout)], [output]);
      return;
    }
    default:
      throw ctx.unsupported(`fused activation ${activation} is not Relu, Relu6, Elu, LeakyRelu, Sigmoid, Tanh or Prelu`);
  }
}

/** Reshapes a per-channel Prelu alpha so that it broadcasts over NCHW: [C] becomes [C, 1, 1]. */
function preluSlope(ctx: OpContext, alpha: TensorRef, layout: 'nhwc' | 'nchw'): string {
  if (layout === 'nhwc') {
    return ctx.nameOf(alpha);
  }
  const channels = alpha.shape.reduce((product, dim) => product * dim, 1);
  if (alpha.constant !== undefined) {
    return ctx.graph.addInitializer(
      ctx.graph.uniqueName(`${alpha.name}/nchw`),
      'float32',
      [channels, 1, 1],
      alpha.constant.data,
    );
  }
  const reshaped = ctx.temp('alpha_nchw');
  ctx.emit('Reshape', [ctx.nameOf(alpha), ctx.graph.addInt64('alpha_shape', [channels, 1, 1])], [reshaped]);
  return reshaped;
}

/** Returns the ONNX name of a filter in ONNX layout [M, C/group, kH, kW], from TF's [kH, kW, C/group, M]. */
function convFilter(ctx: OpContext, filter: TensorRef): string {
  if (filter.constant !== undefined) {
    const transposed = transposeConstant(filter.constant, [3, 2, 0, 1]);
    return ctx.graph.addInitializer(ctx.graph.uniqueName(`${filter.name}/oihw`), 'float32', transposed.shape, transposed.data);
  }
  const name = ctx.temp('filter_oihw');
  ctx.emit('Transpose', [ctx.nameOf(filter)], [name], { perm: attribute.ints([3, 2, 0, 1]) });
  return name;
}

/** Returns a depthwise filter [kH, kW, C, multiplier] as a grouped-conv filter [C * multiplier, 1, kH, kW]. */
function depthwiseFilter(ctx: OpContext, filter: ConstantTensor): string {
  const [kernelHeight, kernelWidth, channels, multiplier] = filter.shape as [number, number, number, number];
  // Output channel c * multiplier + m of TF's depthwise conv reads input channel c with
  // filter[:, :, c, m], which is also the channel order of an ONNX conv with group = C.
  const reshaped = transposeConstant(filter, [2, 3, 0, 1]);
  return ctx.graph.addInitializer(
    ctx.graph.uniqueName(`${ctx.node.input?.[1] ?? ctx.node.name}/depthwise_oihw`),
    'float32',
    [channels * multiplier, 1, kernelHeight, kernelWidth],
    reshaped.data,
  );
}

function convolution(ctx: OpContext, depthwise: boolean, fused: boolean): void {
  checkNhwc(ctx);
  const input = ctx.input(0);
  const inputShape = ctx.rankOf(0, 4);
  const filter = ctx.input(1);
  if (filter.shape.length !== 4) {
    throw ctx.unsupported(`the filter has shape [${filter.shape.join(', ')}], and rank 4 is expected`);
  }
  const [kernelHeight, kernelWidth, filterChannels, filterOut] = filter.shape as [number, number, number, number];
  const strides = spatialPair(ctx, 'strides');
  const dilations = spatialPair(ctx, 'dilations');
  const geometry = windowGeometry(ctx, inputShape, [kernelHeight, kernelWidth], strides, dilations);
  const inputChannels = inputShape[3]!;

  let weights: string;
  let group: number;
  let outChannels: number;
  if (depthwise) {
    weights = depthwiseFilter(ctx, ctx.constant(1, 'depthwise filter'));
    group = filterChannels;
    outChannels = filterChannels * filterOut;
  } else {
    weights = convFilter(ctx, filter);
    group = inputChannels > 0 && inputChannels !== filterChannels ? inputChannels / filterChannels : 1;
    if (!Number.isInteger(group)) {
      throw ctx.unsupported(`the input has ${inputChannels} channels, which is not a multiple of the filter's ${filterChannels}`);
    }
    outChannels = filterOut;
  }

  const parts: FusedParts = fused ? readFusedParts(ctx) : { leakyAlpha: 0.2 };
  const convInputs = [ctx.toNchw(input), weights];
  if (parts.bias !== undefined) {
    convInputs.push(ctx.nameOf(parts.bias));
  }
  const convOutput = ctx.temp('conv_nchw');
  ctx.emit('Conv', convInputs, [convOutput], {
    dilations: attribute.ints(dilations),
    group: attribute.int(group),
    kernel_shape: attribute.ints([kernelHeight, kernelWidth]),
    pads: attribute.ints(geometry.pads),
    strides: attribute.ints(strides),
  });

  let result = convOutput;
  if (parts.activation !== undefined) {
    result = ctx.temp('activation_nchw');
    const options = { leakyAlpha: parts.leakyAlpha, layout: 'nchw' as const };
    emitActivation(ctx, parts.activation, convOutput, result, parts.activationInput ? { ...options, alpha: parts.activationInput } : options);
  }
  ctx.emitFromNchw(result, 'float32', [inputShape[0]!, geometry.outHeight, geometry.outWidth, outChannels]);
}

function pool(ctx: OpContext, onnxOp: 'MaxPool' | 'AveragePool'): void {
  checkNhwc(ctx);
  const inputShape = ctx.rankOf(0, 4);
  const kernel = spatialPair(ctx, 'ksize');
  const strides = spatialPair(ctx, 'strides');
  const geometry = windowGeometry(ctx, inputShape, kernel, strides, [1, 1]);
  const result = ctx.temp('pool_nchw');
  // TF leaves padded cells out of both the max and the average count, as ONNX does with
  // count_include_pad = 0 (the default).
  ctx.emit(onnxOp, [ctx.toNchw(ctx.input(0))], [result], {
    kernel_shape: attribute.ints(kernel),
    pads: attribute.ints(geometry.pads),
    strides: attribute.ints(strides),
  });
  ctx.emitFromNchw(result, ctx.input(0).dtype, [inputShape[0]!, geometry.outHeight, geometry.outWidth, inputShape[3]!]);
}

/**
 * TF Conv2DBackpropInput (a transposed convolution) as ONNX ConvTranspose. TF names the output
 * size (input 0) and pads as the forward convolution from that size would; ONNX adds
 * `output_padding` rows at the bottom and right to reach the same size.
 */
function transposedConvolution(ctx: OpContext): void {
  checkNhwc(ctx);
  const outputSize = ctx.constantInts(0, 'output size');
  const filter = ctx.constant(1, 'filter');
  const inputShape = ctx.rankOf(2, 4);
  const [kernelHeight, kernelWidth, outChannels] = filter.shape as [number, number, number, number];
  const strides = spatialPair(ctx, 'strides');
  const dilations = spatialPair(ctx, 'dilations');
  const forward = windowGeometry(ctx, outputSize, [kernelHeight, kernelWidth], strides, dilations);
  if (forward.outHeight !== inputShape[1] || forward.outWidth !== inputShape[2]) {
    throw ctx.unsupported(
      `output size [${outputSize.join(', ')}] does not convolve back to the input's ${inputShape[1]} x ${inputShape[2]}`,
    );
  }
  const outputPadding = [0, 1].map((axis) => {
    const effectiveKernel = ([kernelHeight, kernelWidth][axis]! - 1) * dilations[axis]! + 1;
    const produced = strides[axis]! * (inputShape[axis + 1]! - 1) + effectiveKernel - forward.pads[axis]! - forward.pads[axis + 2]!;
    return outputSize[axis + 1]! - produced;
  });

  // TF's filter is [kH, kW, out, in]; ConvTranspose wants [in, out, kH, kW].
  const weights = transposeConstant(filter, [3, 2, 0, 1]);
  const result = ctx.temp('conv_transpose_nchw');
  ctx.emit('ConvTranspose', [ctx.toNchw(ctx.input(2)), ctx.graph.addInitializer(ctx.graph.uniqueName(`${ctx.node.name}/filter_iohw`), 'float32', weights.shape, weights.data)], [result], {
    dilations: attribute.ints(dilations),
    kernel_shape: attribute.ints([kernelHeight, kernelWidth]),
    output_padding: attribute.ints(outputPadding),
    pads: attribute.ints(forward.pads),
    strides: attribute.ints(strides),
  });
  ctx.emitFromNchw(result, 'float32', [inputShape[0]!, outputSize[1]!, outputSize[2]!, outChannels]);
}

export const convolutionOps = {
  Conv2DBackpropInput: transposedConvolution,
  Conv2D: (ctx: OpContext) => convolution(ctx, false, false),
  _FusedConv2D: (ctx: OpContext) => convolution(ctx, false, true),
  DepthwiseConv2dNative: (ctx: OpContext) => convolution(ctx, true, false),
  DepthwiseConv2d: (ctx: OpContext) => convolution(ctx, true, false),
  FusedDepthwiseConv2dNative: (ctx: OpContext) => convolution(ctx, true, true),
  MaxPool: (ctx: OpContext) => pool(ctx, 'MaxPool'),
  AvgPool: (ctx: OpContext) => pool(ctx, 'AveragePool'),
};
