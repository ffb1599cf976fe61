/** Reductions over constant axes: Mean, Sum, Max, Min, Prod, ArgMax, ArgMin. */
import { attribute, ONNX_DTYPE } from '../onnx/builder.ts';
import { dtypeFromTf } from '../tfjs/model.ts';
import { normalizeAxis, type OpContext } from './context.ts';

function reduce(onnxOp: string) {
  return (ctx: OpContext): void => {
    const input = ctx.input(0);
    const rank = input.shape.length;
    const axes = [...new Set(ctx.constantInts(1, 'reduction axes').map((axis) => normalizeAxis(axis, rank)))].sort((a, b) => a - b);
    const keepDims = ctx.attrs.bool('keep_dims', false);
    // From opset 18 every Reduce op takes its axes as an input (ReduceSum since opset 13).
    ctx.emit(onnxOp, [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/axes`, axes)], [ctx.outputName()], {
      keepdims: attribute.int(keepDims ? 1 : 0),
    });
    const shape = keepDims
      ? input.shape.map((dim, axis) => (axes.includes(axis) ? 1 : dim))
      : input.shape.filter((_, axis) => !axes.includes(axis));
    ctx.output(0, input.dtype, shape);
  };
}

function argReduce(onnxOp: 'ArgMax' | 'ArgMin') {
  return (ctx: OpContext): void => {
    const input = ctx.input(0);
    const [rawAxis] = ctx.constantInts(1, 'dimension');
    const axis = normalizeAxis(rawAxis!, input.shape.length);
    const dtype = dtypeFromTf(ctx.attrs.type('output_type')) ?? 'int64';
    const indices = dtype === 'int64' ? ctx.outputName() : ctx.temp('indices');
    ctx.emit(onnxOp, [ctx.inputName(0)], [indices], { axis: attribute.int(axis), keepdims: attribute.int(0) });
    if (dtype !== 'int64') {
      ctx.emit('Cast', [indices], [ctx.outputName()], { to: attribute.int(ONNX_DTYPE.int32) });
    }
    ctx.output(0, dtype, input.shape.filter((_, index) => index !== axis));
  };
}

export const reductionOps = {
  Mean: reduce('ReduceMean'),
  Sum: reduce('ReduceSum'),
  Max: reduce('ReduceMax'),
  Min: reduce('ReduceMin'),
  Prod: reduce('ReduceProd'),
  ArgMax: argReduce('ArgMax'),
  ArgMin: argReduce('ArgMin'),
};
