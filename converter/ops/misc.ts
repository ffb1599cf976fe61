/** Softmax, LogSoftmax and TopKV2. */
import { attribute, ONNX_DTYPE } from '../onnx/builder.ts';
import type { OpContext } from './context.ts';

function softmax(onnxOp: 'Softmax' | 'LogSoftmax') {
  return (ctx: OpContext): void => {
    // TF normalizes over the last axis, ONNX's default from opset 13.
    ctx.emit(onnxOp, [ctx.inputName(0)], [ctx.outputName()], { axis: attribute.int(-1) });
    ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
  };
}

/** TF TopKV2 on the last axis: values, then int32 indices. Ties go to the lower index in both TF and ONNX. */
function topK(ctx: OpContext): void {
  const input = ctx.input(0);
  const [k] = ctx.constantInts(1, 'k');
  if (!ctx.attrs.bool('sorted', true)) {
    throw ctx.unsupported('sorted = false is not supported');
  }
  const indices = ctx.temp('indices_int64');
  ctx.emit('TopK', [ctx.inputName(0), ctx.graph.addInt64(`${ctx.node.name}/k`, [k!])], [ctx.outputName(0), indices], {
    axis: attribute.int(-1),
    largest: attribute.int(1),
    sorted: attribute.int(1),
  });
  ctx.emit('Cast', [indices], [ctx.outputName(1)], { to: attribute.int(ONNX_DTYPE.int32) });
  const shape = [...input.shape.slice(0, -1), k!];
  ctx.output(0, input.dtype, shape);
  ctx.output(1, 'int32', shape);
}

export const miscOps = {
  Softmax: softmax('Softmax'),
  LogSoftmax: softmax('LogSoftmax'),
  TopKV2: topK,
};
