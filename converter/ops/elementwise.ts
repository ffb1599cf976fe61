/** Element-wise ops. They work on NHWC tensors as they are, since ONNX broadcasts as TF does. */
import { attribute } from '../onnx/builder.ts';
import type { TensorDtype } from '../tfjs/model.ts';
import { broadcastShapes, type OpContext } from './context.ts';
import { emitActivation } from './convolution.ts';

function binaryShape(ctx: OpContext): number[] {
  try {
    return broadcastShapes(ctx.input(0).shape, ctx.input(1).shape);
  } catch (error) {
    throw ctx.unsupported((error as Error).message);
  }
}

function binary(onnxOp: string, resultDtype?: TensorDtype) {
  return (ctx: OpContext): void => {
    const shape = binaryShape(ctx);
    ctx.emit(onnxOp, [ctx.inputName(0), ctx.inputName(1)], [ctx.outputName()]);
    ctx.output(0, resultDtype ?? ctx.input(0).dtype, shape);
  };
}

function unary(onnxOp: string, attributes: Parameters<OpContext['emit']>[3] = {}) {
  return (ctx: OpContext): void => {
    ctx.emit(onnxOp, [ctx.inputName(0)], [ctx.outputName()], attributes);
    ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
  };
}

function isInteger(dtype: TensorDtype): boolean {
  return dtype === 'int32' || dtype === 'int64';
}

/** TF FloorDiv: floor(a / b). For integers, a - floormod(a, b) is a multiple of b, so Div is exact. */
function floorDiv(ctx: OpContext): void {
  const shape = binaryShape(ctx);
  const [a, b] = [ctx.inputName(0), ctx.inputName(1)];
  if (isInteger(ctx.input(0).dtype)) {
    const remainder = ctx.temp('remainder');
    const multiple = ctx.temp('multiple');
    ctx.emit('Mod', [a, b], [remainder], { fmod: attribute.int(0) });
    ctx.emit('Sub', [a, remainder], [multiple]);
    ctx.emit('Div', [multiple, b], [ctx.outputName()]);
  } else {
    const quotient = ctx.temp('quotient');
    ctx.emit('Div', [a, b], [quotient]);
    ctx.emit('Floor', [quotient], [ctx.outputName()]);
  }
  ctx.output(0, ctx.input(0).dtype, shape);
}

/** TF FloorMod: the remainder takes the sign of the divisor, as ONNX Mod with fmod = 0 does for integers. */
function floorMod(ctx: OpContext): void {
  const shape = binaryShape(ctx);
  const [a, b] = [ctx.inputName(0), ctx.inputName(1)];
  if (isInteger(ctx.input(0).dtype)) {
    ctx.emit('Mod', [a, b], [ctx.outputName()], { fmod: attribute.int(0) });
  } else {
    // ONNX Mod needs fmod = 1 for floats, which keeps the sign of the dividend: use a - floor(a / b) * b.
    const quotient = ctx.temp('quotient');
    const floored = ctx.temp('floored');
    const product = ctx.temp('product');
    ctx.emit('Div', [a, b], [quotient]);
    ctx.emit('Floor', [quotient], [floored]);
    ctx.emit('Mul', [floored, b], [product]);
    ctx.emit('Sub', [a, product], [ctx.outputName()]);
  }
  ctx.output(0, ctx.input(0).dtype, shape);
}

function squaredDifference(ctx: OpContext): void {
  const shape = binaryShape(ctx);
  const difference = ctx.temp('difference');
  ctx.emit('Sub', [ctx.inputName(0), ctx.inputName(1)], [difference]);
  ctx.emit('Mul', [difference, difference], [ctx.outputName()]);
  ctx.output(0, ctx.input(0).dtype, shape);
}

function square(ctx: OpContext): void {
  const input = ctx.inputName(0);
  ctx.emit('Mul', [input, input], [ctx.outputName()]);
  ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
}

function rsqrt(ctx: OpContext): void {
  const root = ctx.temp('sqrt');
  ctx.emit('Sqrt', [ctx.inputName(0)], [root]);
  ctx.emit('Reciprocal', [root], [ctx.outputName()]);
  ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
}

function notEqual(ctx: OpContext): void {
  const shape = binaryShape(ctx);
  const equal = ctx.temp('equal');
  ctx.emit('Equal', [ctx.inputName(0), ctx.inputName(1)], [equal]);
  ctx.emit('Not', [equal], [ctx.outputName()]);
  ctx.output(0, 'bool', shape);
}

function activation(name: string) {
  return (ctx: OpContext): void => {
    emitActivation(ctx, name, ctx.inputName(0), ctx.outputName(), {
      leakyAlpha: ctx.attrs.float('alpha', 0.2),
      layout: 'nhwc',
    });
    ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
  };
}

/** TF AddN: the sum of N tensors of one shape, which is ONNX's variadic Sum. */
function addN(ctx: OpContext): void {
  ctx.emit('Sum', ctx.inputs.map((input) => ctx.nameOf(input)), [ctx.outputName()]);
  ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
}

function prelu(ctx: OpContext): void {
  ctx.emit('PRelu', [ctx.inputName(0), ctx.inputName(1)], [ctx.outputName()]);
  ctx.output(0, ctx.input(0).dtype, ctx.input(0).shape);
}

export const elementwiseOps = {
  Add: binary('Add'),
  AddN: addN,
  AddV2: binary('Add'),
  BiasAdd: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  RealDiv: binary('Div'),
  Div: (ctx: OpContext) => {
    if (isInteger(ctx.input(0).dtype)) {
      throw ctx.unsupported('integer Div is not supported (use FloorDiv)');
    }
    binary('Div')(ctx);
  },
  Minimum: binary('Min'),
  Maximum: binary('Max'),
  Pow: binary('Pow'),
  FloorDiv: floorDiv,
  FloorMod: floorMod,
  SquaredDifference: squaredDifference,
  Equal: binary('Equal', 'bool'),
  NotEqual: notEqual,
  Greater: binary('Greater', 'bool'),
  GreaterEqual: binary('GreaterOrEqual', 'bool'),
  Less: binary('Less', 'bool'),
  LessEqual: binary('LessOrEqual', 'bool'),
  LogicalAnd: binary('And', 'bool'),
  LogicalOr: binary('Or', 'bool'),
  LogicalNot: unary('Not'),
  Abs: unary('Abs'),
  Neg: unary('Neg'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Rsqrt: rsqrt,
  Square: square,
  Reciprocal: unary('Reciprocal'),
  Floor: unary('Floor'),
  Ceil: unary('Ceil'),
  Round: unary('Round'),
  Sign: unary('Sign'),
  Sin: unary('Sin'),
  Cos: unary('Cos'),
  Erf: unary('Erf'),
  Softplus: unary('Softplus'),
  Relu: activation('relu'),
  Relu6: activation('relu6'),
  Elu: activation('elu'),
  LeakyRelu: activation('leakyrelu'),
  Sigmoid: activation('sigmoid'),
  Tanh: activation('tanh'),
  Prelu: prelu,
};
