/** Shape and indexing ops: Reshape, Squeeze, ExpandDims, ConcatV2, Pack, Pad, Transpose, slices and gathers. */
import { attribute, ONNX_DTYPE } from '../onnx/builder.ts';
import { dtypeFromTf, type TensorDtype } from '../tfjs/model.ts';
import { normalizeAxis, type OpContext, sizeOf } from './context.ts';

/** Stands for "to the end of the axis" in ONNX Slice, which clamps out-of-range starts and ends. */
const SLICE_END = Number.MAX_SAFE_INTEGER;

function reshape(ctx: OpContext): void {
  const input = ctx.input(0);
  const target = ctx.constantInts(1, 'target shape');
  const inShape = input.shape;
  const staticInput = inShape.every((dim) => dim >= 0);
  let onnxTarget = target;

  if (!staticInput && !target.includes(-1)) {
    // A graph traced with batch 1 often spells the batch out as 1 in Reshape targets. That
    // reads as "batch, then the rest" when the input has an unknown batch and the other sizes
    // match, so the batch slot becomes -1 and the Reshape works for any batch.
    const rest = inShape.slice(1);
    const fixable = inShape[0] === -1 && rest.every((dim) => dim >= 0) && sizeOf(target.slice(1)) === sizeOf(rest);
    if (!fixable) {
      throw ctx.unsupported(
        `its target shape [${target.join(', ')}] fixes the size of an input of shape [${inShape.join(', ')}] with an unknown batch; ` +
          'convert with a fixed batchSize',
      );
    }
    onnxTarget = [-1, ...target.slice(1)];
  }

  ctx.emit('Reshape', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/shape`, onnxTarget)], [ctx.outputName()], {
    ...(onnxTarget.includes(0) ? { allowzero: attribute.int(1) } : {}),
  });
  ctx.output(0, input.dtype, inferReshape(inShape, onnxTarget));
}

function inferReshape(inShape: number[], target: number[]): number[] {
  const wildcard = target.indexOf(-1);
  if (wildcard < 0) {
    return target;
  }
  if (inShape.some((dim) => dim < 0)) {
    return target;
  }
  const known = sizeOf(target.filter((_, index) => index !== wildcard));
  return target.map((dim, index) => (index === wildcard ? sizeOf(inShape) / known : dim));
}

function squeeze(ctx: OpContext): void {
  const input = ctx.input(0);
  const rank = input.shape.length;
  const listed = ctx.attrs.ints('squeeze_dims', ctx.attrs.ints('axis', []));
  const axes =
    listed.length > 0
      ? listed.map((axis) => normalizeAxis(axis, rank)).sort((a, b) => a - b)
      : input.shape.flatMap((dim, axis) => (dim === 1 ? [axis] : []));
  for (const axis of axes) {
    const dim = input.shape[axis];
    if (dim !== 1 && dim !== -1) {
      throw ctx.unsupported(`axis ${axis} of shape [${input.shape.join(', ')}] has size ${dim}, and only size 1 can be squeezed`);
    }
  }
  ctx.emit('Squeeze', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/axes`, axes)], [ctx.outputName()]);
  ctx.output(0, input.dtype, input.shape.filter((_, axis) => !axes.includes(axis)));
}

function expandDims(ctx: OpContext): void {
  const input = ctx.input(0);
  const [dim] = ctx.constantInts(1, 'axis');
  const rank = input.shape.length;
  const axis = dim! < 0 ? dim! + rank + 1 : dim!;
  ctx.emit('Unsqueeze', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/axes`, [axis])], [ctx.outputName()]);
  const shape = [...input.shape];
  shape.splice(axis, 0, 1);
  ctx.output(0, input.dtype, shape);
}

function concat(ctx: OpContext, axisFirst: boolean): void {
  const count = ctx.inputs.length - 1;
  const axisIndex = axisFirst ? 0 : count;
  const values = ctx.inputs.filter((_, index) => index !== axisIndex);
  const first = values[0];
  if (first === undefined) {
    throw ctx.unsupported('it has no values to concatenate');
  }
  const [rawAxis] = ctx.constantInts(axisIndex, 'axis');
  const axis = normalizeAxis(rawAxis!, first.shape.length);
  const shape = [...first.shape];
  const sizes = values.map((value) => value.shape[axis]!);
  shape[axis] = sizes.some((size) => size < 0) ? -1 : sizes.reduce((sum, size) => sum + size, 0);

  ctx.emit('Concat', values.map((value) => ctx.nameOf(value)), [ctx.outputName()], { axis: attribute.int(axis) });
  ctx.output(0, first.dtype, shape);
}

function pack(ctx: OpContext): void {
  const first = ctx.input(0);
  const axis = ctx.attrs.int('axis', 0);
  const outRank = first.shape.length + 1;
  const normalized = normalizeAxis(axis, outRank);
  const axes = ctx.graph.addInt64(`${ctx.node.name}/axes`, [normalized]);
  const expanded = ctx.inputs.map((input, index) => {
    const name = ctx.temp(`expanded_${index}`);
    ctx.emit('Unsqueeze', [ctx.nameOf(input), axes], [name]);
    return name;
  });
  ctx.emit('Concat', expanded, [ctx.outputName()], { axis: attribute.int(normalized) });
  const shape = [...first.shape];
  shape.splice(normalized, 0, ctx.inputs.length);
  ctx.output(0, first.dtype, shape);
}

function unpack(ctx: OpContext): void {
  const input = ctx.input(0);
  const axis = normalizeAxis(ctx.attrs.int('axis', 0), input.shape.length);
  const count = ctx.attrs.int('num', input.shape[axis]!);
  const axes = ctx.graph.addInt64(`${ctx.node.name}/axes`, [axis]);
  const parts = Array.from({ length: count }, (_, index) => ctx.temp(`part_${index}`));
  ctx.emit('Split', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/split`, new Array<number>(count).fill(1))], parts, {
    axis: attribute.int(axis),
  });
  const shape = input.shape.filter((_, index) => index !== axis);
  parts.forEach((part, index) => {
    ctx.emit('Squeeze', [part, axes], [ctx.outputName(index)]);
    ctx.output(index, input.dtype, shape);
  });
}

function split(ctx: OpContext, sizesIndex: number | undefined, axisIndex: number, valueIndex: number): void {
  const input = ctx.input(valueIndex);
  const [rawAxis] = ctx.constantInts(axisIndex, 'axis');
  const axis = normalizeAxis(rawAxis!, input.shape.length);
  const dim = input.shape[axis]!;
  let sizes: number[];
  if (sizesIndex === undefined) {
    const count = ctx.attrs.int('num_split', 1);
    if (dim < 0 || dim % count !== 0) {
      throw ctx.unsupported(`axis ${axis} has size ${dim}, which does not split into ${count} equal parts`);
    }
    sizes = new Array<number>(count).fill(dim / count);
  } else {
    sizes = ctx.constantInts(sizesIndex, 'split sizes');
    const wildcard = sizes.indexOf(-1);
    if (wildcard >= 0) {
      if (dim < 0) {
        throw ctx.unsupported(`split size -1 needs a static size of axis ${axis}`);
      }
      sizes[wildcard] = dim - sizes.reduce((sum, size, index) => (index === wildcard ? sum : sum + size), 0);
    }
  }
  const outputs = sizes.map((_, index) => ctx.outputName(index));
  ctx.emit('Split', [ctx.nameOf(input), ctx.graph.addInt64(`${ctx.node.name}/split`, sizes)], outputs, { axis: attribute.int(axis) });
  sizes.forEach((size, index) => {
    const shape = [...input.shape];
    shape[axis] = size;
    ctx.output(index, input.dtype, shape);
  });
}

function pad(ctx: OpContext, mode: 'constant' | 'mirror'): void {
  const input = ctx.input(0);
  const paddings = ctx.constantInts(1, 'paddings');
  const rank = input.shape.length;
  if (paddings.length !== rank * 2) {
    throw ctx.unsupported(`paddings has ${paddings.length} values, and ${rank * 2} are expected for rank ${rank}`);
  }
  const begins = Array.from({ length: rank }, (_, axis) => paddings[axis * 2]!);
  const ends = Array.from({ length: rank }, (_, axis) => paddings[axis * 2 + 1]!);
  const inputs = [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/pads`, [...begins, ...ends])];
  let onnxMode = 'constant';
  if (mode === 'mirror') {
    const tfMode = ctx.attrs.string('mode', 'REFLECT').toUpperCase();
    if (tfMode !== 'REFLECT') {
      throw ctx.unsupported(`MirrorPad mode ${tfMode} has no ONNX Pad equivalent (only REFLECT has)`);
    }
    onnxMode = 'reflect';
  } else if (ctx.inputs.length > 2) {
    inputs.push(ctx.inputName(2));
  }
  ctx.emit('Pad', inputs, [ctx.outputName()], { mode: attribute.string(onnxMode) });
  const shape = input.shape.map((dim, axis) => (dim < 0 ? -1 : dim + begins[axis]! + ends[axis]!));
  ctx.output(0, input.dtype, shape);
}

function transpose(ctx: OpContext): void {
  const input = ctx.input(0);
  const perm = ctx.constantInts(1, 'permutation');
  ctx.emit('Transpose', [ctx.inputName(0)], [ctx.outputName()], { perm: attribute.ints(perm) });
  ctx.output(
    0,
    input.dtype,
    perm.map((axis) => input.shape[axis]!),
  );
}

/** Length of `[start, end)` with `step`, after ONNX Slice's (and TF's) clamping; -1 for an unknown dim. */
function sliceLength(dim: number, start: number, end: number, step: number): number {
  if (dim < 0) {
    return -1;
  }
  let first = start < 0 ? start + dim : start;
  let last = end < 0 ? end + dim : end;
  if (end <= -SLICE_END) {
    last = -1;
  }
  if (step > 0) {
    first = Math.min(Math.max(first, 0), dim);
    last = Math.min(Math.max(last, 0), dim);
    return Math.max(0, Math.ceil((last - first) / step));
  }
  first = Math.min(Math.max(first, 0), dim - 1);
  last = Math.min(Math.max(last, -1), dim - 1);
  return Math.max(0, Math.ceil((first - last) / -step));
}

interface SliceAxis {
  axis: number;
  start: number;
  end: number;
  step: number;
}

function emitSlice(ctx: OpContext, input: string, slices: SliceAxis[], output: string): void {
  ctx.emit(
    'Slice',
    [
      input,
      ctx.graph.addInt64(`${ctx.node.name}/starts`, slices.map((slice) => slice.start)),
      ctx.graph.addInt64(`${ctx.node.name}/ends`, slices.map((slice) => slice.end)),
      ctx.graph.addInt64(`${ctx.node.name}/axes`, slices.map((slice) => slice.axis)),
      ctx.graph.addInt64(`${ctx.node.name}/steps`, slices.map((slice) => slice.step)),
    ],
    [output],
  );
}

/**
 * TF StridedSlice: builds the dense slice spec from the sparse one as TF's
 * `ValidateStridedSliceOp` does, then emits Slice, Squeeze and Unsqueeze. An ellipsis expands to
 * the axes not named, and new_axis adds a size-1 axis. shrink_axis takes one element and drops
 * the axis. A begin or end mask bit means "from the start" or "to the end" of its axis.
 */
function stridedSlice(ctx: OpContext): void {
  const input = ctx.input(0);
  const begin = ctx.constantInts(1, 'begin');
  const end = ctx.constantInts(2, 'end');
  const strides = ctx.constantInts(3, 'strides');
  const beginMask = ctx.attrs.int('begin_mask', 0);
  const endMask = ctx.attrs.int('end_mask', 0);
  const ellipsisMask = ctx.attrs.int('ellipsis_mask', 0);
  const newAxisMask = ctx.attrs.int('new_axis_mask', 0);
  const shrinkMask = ctx.attrs.int('shrink_axis_mask', 0);
  const rank = input.shape.length;
  const bit = (mask: number, index: number): boolean => (mask & (1 << index)) !== 0;

  const slices: SliceAxis[] = [];
  const shrunk: number[] = [];
  // Output entries in order: an input axis (kept or shrunk) or a new axis.
  const entries: Array<{ kind: 'input'; axis: number; shrink: boolean } | { kind: 'new' }> = [];
  let inputAxis = 0;
  let sawEllipsis = false;

  const addFullAxis = (): void => {
    entries.push({ kind: 'input', axis: inputAxis, shrink: false });
    inputAxis += 1;
  };

  for (let index = 0; index < begin.length; index++) {
    if (bit(ellipsisMask, index)) {
      if (sawEllipsis) {
        throw ctx.unsupported('it has more than one ellipsis');
      }
      sawEllipsis = true;
      let following = 0;
      for (let later = index + 1; later < begin.length; later++) {
        if (!bit(newAxisMask, later)) {
          following += 1;
        }
      }
      const expanded = rank - inputAxis - following;
      for (let count = 0; count < expanded; count++) {
        addFullAxis();
      }
      continue;
    }
    if (bit(newAxisMask, index)) {
      entries.push({ kind: 'new' });
      continue;
    }

    const axis = inputAxis;
    inputAxis += 1;
    if (axis >= rank) {
      throw ctx.unsupported(`the slice spec names more axes than the input's rank ${rank}`);
    }
    const step = strides[index] ?? 1;
    if (step === 0) {
      throw ctx.unsupported('a stride is 0');
    }
    if (bit(shrinkMask, index)) {
      let start = bit(beginMask, index) ? 0 : begin[index]!;
      const dim = input.shape[axis]!;
      if (start < 0 && dim >= 0) {
        start += dim;
      }
      const stop = start === -1 ? SLICE_END : start + 1;
      slices.push({ axis, start, end: stop, step: 1 });
      shrunk.push(axis);
      entries.push({ kind: 'input', axis, shrink: true });
      continue;
    }
    // A masked begin starts at the first element in the stride's direction, a masked end runs past the last.
    let start = begin[index]!;
    if (bit(beginMask, index)) {
      start = step > 0 ? 0 : SLICE_END;
    }
    let stop = end[index]!;
    if (bit(endMask, index)) {
      stop = step > 0 ? SLICE_END : -SLICE_END;
    }
    if (!(start === 0 && stop >= SLICE_END && step === 1)) {
      slices.push({ axis, start, end: stop, step });
    }
    entries.push({ kind: 'input', axis, shrink: false });
  }
  while (inputAxis < rank) {
    addFullAxis();
  }

  const slicedShape = [...input.shape];
  for (const slice of slices) {
    slicedShape[slice.axis] = sliceLength(input.shape[slice.axis]!, slice.start, slice.end, slice.step);
  }
  const newAxes = entries.filter((entry) => !(entry.kind === 'input' && entry.shrink)).flatMap((entry, position) => (entry.kind === 'new' ? [position] : []));

  let current = ctx.inputName(0);
  const steps = [slices.length > 0 ? 'slice' : undefined, shrunk.length > 0 ? 'squeeze' : undefined, newAxes.length > 0 ? 'unsqueeze' : undefined].filter(
    (step) => step !== undefined,
  );
  const target = (step: string): string => (step === steps.at(-1) ? ctx.outputName() : ctx.temp(step));
  if (steps.length === 0) {
    ctx.emit('Identity', [current], [ctx.outputName()]);
  }
  if (slices.length > 0) {
    const output = target('slice');
    emitSlice(ctx, current, slices, output);
    current = output;
  }
  if (shrunk.length > 0) {
    const output = target('squeeze');
    ctx.emit('Squeeze', [current, ctx.graph.addInt64(`${ctx.node.name}/shrink_axes`, shrunk)], [output]);
    current = output;
  }
  if (newAxes.length > 0) {
    const output = target('unsqueeze');
    ctx.emit('Unsqueeze', [current, ctx.graph.addInt64(`${ctx.node.name}/new_axes`, newAxes)], [output]);
  }

  const finalShape = entries.flatMap((entry) => {
    if (entry.kind === 'new') {
      return [1];
    }
    return entry.shrink ? [] : [slicedShape[entry.axis]!];
  });
  ctx.output(0, input.dtype, finalShape);
}

/** TF Slice(input, begin, size): size -1 takes the rest of the axis. */
function slice(ctx: OpContext): void {
  const input = ctx.input(0);
  const begin = ctx.constantInts(1, 'begin');
  const size = ctx.constantInts(2, 'size');
  const slices = begin.map((start, axis) => ({ axis, start, end: size[axis] === -1 ? SLICE_END : start + size[axis]!, step: 1 }));
  emitSlice(ctx, ctx.inputName(0), slices, ctx.outputName());
  ctx.output(
    0,
    input.dtype,
    input.shape.map((dim, axis) => sliceLength(dim, slices[axis]!.start, slices[axis]!.end, 1)),
  );
}

function gather(ctx: OpContext, axisFromInput: boolean): void {
  const params = ctx.input(0);
  const indices = ctx.input(1);
  const batchDims = ctx.attrs.int('batch_dims', 0);
  if (batchDims !== 0) {
    throw ctx.unsupported(`batch_dims ${batchDims} is not 0`);
  }
  const [rawAxis] = axisFromInput ? ctx.constantInts(2, 'axis') : [0];
  const axis = normalizeAxis(rawAxis!, params.shape.length);
  ctx.emit('Gather', [ctx.inputName(0), ctx.inputName(1)], [ctx.outputName()], { axis: attribute.int(axis) });
  ctx.output(0, params.dtype, [...params.shape.slice(0, axis), ...indices.shape, ...params.shape.slice(axis + 1)]);
}

function tile(ctx: OpContext): void {
  const input = ctx.input(0);
  const multiples = ctx.constantInts(1, 'multiples');
  ctx.emit('Tile', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/repeats`, multiples)], [ctx.outputName()]);
  ctx.output(
    0,
    input.dtype,
    input.shape.map((dim, axis) => (dim < 0 ? -1 : dim * multiples[axis]!)),
  );
}

function identity(ctx: OpContext): void {
  const input = ctx.input(0);
  if (input.constant !== undefined) {
    ctx.setOutput(0, input);
    return;
  }
  ctx.emit('Identity', [ctx.inputName(0)], [ctx.outputName()]);
  ctx.output(0, input.dtype, input.shape);
}

function cast(ctx: OpContext): void {
  const input = ctx.input(0);
  const target = ctx.attrs.type('DstT');
  const dtype: TensorDtype | undefined = dtypeFromTf(target);
  if (dtype === undefined) {
    throw ctx.unsupported(`cast to ${target ?? 'an unknown type'} is not supported (float32, int32, int64 and bool are)`);
  }
  ctx.emit('Cast', [ctx.inputName(0)], [ctx.outputName()], { to: attribute.int(ONNX_DTYPE[dtype]) });
  ctx.output(0, dtype, input.shape);
}

function shapeOp(ctx: OpContext): void {
  const input = ctx.input(0);
  const dtype = dtypeFromTf(ctx.attrs.type('out_type')) ?? 'int32';
  if (input.shape.every((dim) => dim >= 0)) {
    const data = dtype === 'int64' ? BigInt64Array.from(input.shape.map(BigInt)) : Int32Array.from(input.shape);
    ctx.setOutput(0, { name: ctx.outputName(), dtype, shape: [input.shape.length], constant: { dtype, shape: [input.shape.length], data } });
    return;
  }
  const shape = ctx.temp('shape');
  ctx.emit('Shape', [ctx.inputName(0)], [shape]);
  ctx.emit('Cast', [shape], [ctx.outputName()], { to: attribute.int(ONNX_DTYPE[dtype]) });
  ctx.output(0, dtype, [input.shape.length]);
}

export const arrayOps = {
  Reshape: reshape,
  Squeeze: squeeze,
  ExpandDims: expandDims,
  ConcatV2: (ctx: OpContext) => concat(ctx, false),
  Concat: (ctx: OpContext) => concat(ctx, true),
  Pack: pack,
  Unpack: unpack,
  Split: (ctx: OpContext) => split(ctx, undefined, 0, 1),
  SplitV: (ctx: OpContext) => split(ctx, 1, 2, 0),
  Pad: (ctx: OpContext) => pad(ctx, 'constant'),
  PadV2: (ctx: OpContext) => pad(ctx, 'constant'),
  MirrorPad: (ctx: OpContext) => pad(ctx, 'mirror'),
  Transpose: transpose,
  StridedSlice: stridedSlice,
  Slice: slice,
  GatherV2: (ctx: OpContext) => gather(ctx, true),
  Gather: (ctx: OpContext) => gather(ctx, false),
  Tile: tile,
  Identity: identity,
  Snapshot: identity,
  StopGradient: identity,
  Cast: cast,
  Shape: shapeOp,
};
