/** MatMul, BatchMatMul and `_FusedMatMul` (MatMul + BiasAdd + activation). */
import { attribute } from '../onnx/builder.ts';
import { type OpContext, type TensorRef } from './context.ts';
import { emitActivation, type FusedParts, readFusedParts } from './convolution.ts';
import { transposeConstant } from './tensor-utils.ts';

/** Returns the ONNX name of `ref` with its last two axes swapped when `transposed`. */
function operand(ctx: OpContext, ref: TensorRef, transposed: boolean, role: string): { name: string; shape: number[] } {
  if (!transposed) {
    return { name: ctx.nameOf(ref), shape: ref.shape };
  }
  const rank = ref.shape.length;
  const perm = [...Array.from({ length: rank - 2 }, (_, axis) => axis), rank - 1, rank - 2];
  const shape = perm.map((axis) => ref.shape[axis]!);
  if (ref.constant !== undefined) {
    const swapped = transposeConstant(ref.constant, perm);
    return { name: ctx.graph.addInitializer(ctx.graph.uniqueName(`${ref.name}/transposed`), swapped.dtype, swapped.shape, swapped.data), shape };
  }
  const name = ctx.temp(`${role}_transposed`);
  ctx.emit('Transpose', [ctx.nameOf(ref)], [name], { perm: attribute.ints(perm) });
  return { name, shape };
}

function matmul(ctx: OpContext, fused: boolean, batch: boolean): void {
  const a = operand(ctx, ctx.input(0), ctx.attrs.bool(batch ? 'adj_x' : 'transpose_a', false), 'a');
  const b = operand(ctx, ctx.input(1), ctx.attrs.bool(batch ? 'adj_y' : 'transpose_b', false), 'b');
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw ctx.unsupported('both operands need rank 2 or more');
  }
  const parts: FusedParts = fused ? readFusedParts(ctx) : { leakyAlpha: 0.2 };
  const batchShape = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const shape = [...batchShape, a.shape.at(-2)!, b.shape.at(-1)!];

  const steps = [parts.bias === undefined ? undefined : 'bias', parts.activation].filter((step) => step !== undefined);
  let current = steps.length === 0 ? ctx.outputName() : ctx.temp('matmul');
  ctx.emit('MatMul', [a.name, b.name], [current]);
  if (parts.bias !== undefined) {
    const output = parts.activation === undefined ? ctx.outputName() : ctx.temp('bias_add');
    ctx.emit('Add', [current, ctx.nameOf(parts.bias)], [output]);
    current = output;
  }
  if (parts.activation !== undefined) {
    const options = { leakyAlpha: parts.leakyAlpha, layout: 'nhwc' as const };
    emitActivation(ctx, parts.activation, current, ctx.outputName(), parts.activationInput ? { ...options, alpha: parts.activationInput } : options);
  }
  ctx.output(0, ctx.input(0).dtype, shape);
}

export const matmulOps = {
  MatMul: (ctx: OpContext) => matmul(ctx, false, false),
  _FusedMatMul: (ctx: OpContext) => matmul(ctx, true, false),
  BatchMatMul: (ctx: OpContext) => matmul(ctx, false, true),
  BatchMatMulV2: (ctx: OpContext) => matmul(ctx, false, true),
};
