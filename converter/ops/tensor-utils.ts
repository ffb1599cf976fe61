/** Conversion-time operations on constant tensors. */
import type { ConstantTensor, TensorData } from '../tfjs/model.ts';

/** Returns `tensor` with its axes permuted: result axis `i` is input axis `perm[i]`. */
export function transposeConstant(tensor: ConstantTensor, perm: number[]): ConstantTensor {
  const { shape, data } = tensor;
  const rank = shape.length;
  const outShape = perm.map((axis) => shape[axis]!);
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  const size = data.length;
  const result = new (data.constructor as new (length: number) => TensorData)(size);

  for (let outIndex = 0; outIndex < size; outIndex++) {
    let remainder = outIndex;
    let inIndex = 0;
    for (let axis = 0; axis < rank; axis++) {
      const coordinate = Math.floor(remainder / outStrides[axis]!);
      remainder -= coordinate * outStrides[axis]!;
      inIndex += coordinate * inStrides[perm[axis]!]!;
    }
    result[outIndex] = data[inIndex]!;
  }
  return { dtype: tensor.dtype, shape: outShape, data: result };
}

export function stridesOf(shape: number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let axis = shape.length - 2; axis >= 0; axis--) {
    strides[axis] = strides[axis + 1]! * shape[axis + 1]!;
  }
  return strides;
}
