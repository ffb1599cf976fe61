/**
 * ResizeBilinear and ResizeNearestNeighbor as ONNX Resize in NCHW. TF's flags map to ONNX
 * coordinate transformations (ONNX Operators.md, Resize): align_corners to `align_corners`,
 * half_pixel_centers to `half_pixel`, neither to `asymmetric`.
 *
 * TF's nearest neighbour takes floor(x_src) for `asymmetric`, round-half-up for `align_corners`,
 * and floor((x + 0.5) * in / out) for half-pixel centers. ONNX's `half_pixel` subtracts 0.5
 * from that coordinate, and `round_prefer_ceil` of (y - 0.5) equals floor(y), so the ONNX
 * nearest mode is `floor` only for `asymmetric`. (`tf_half_pixel_for_nn` would give the same result,
 * but ONNX Runtime warns that it is deprecated since opset 13.)
 */
import { attribute } from '../onnx/builder.ts';
import type { OpContext } from './context.ts';

function resize(mode: 'linear' | 'nearest') {
  return (ctx: OpContext): void => {
    const input = ctx.input(0);
    const shape = ctx.rankOf(0, 4);
    const size = ctx.constantInts(1, 'output size');
    if (size.length !== 2) {
      throw ctx.unsupported(`the output size has ${size.length} values, and [height, width] is expected`);
    }
    const alignCorners = ctx.attrs.bool('align_corners', false);
    const halfPixel = ctx.attrs.bool('half_pixel_centers', false);
    if (alignCorners && halfPixel) {
      throw ctx.unsupported('align_corners and half_pixel_centers are both set, which TF rejects');
    }
    let transformation = 'asymmetric';
    if (alignCorners) {
      transformation = 'align_corners';
    } else if (halfPixel) {
      transformation = 'half_pixel';
    }

    const result = ctx.temp('resize_nchw');
    const nchw = ctx.toNchw(input);
    ctx.emit('Resize', [nchw, '', '', fullSizes(ctx, nchw, shape, size)], [result], {
      coordinate_transformation_mode: attribute.string(transformation),
      mode: attribute.string(mode),
      ...(mode === 'nearest' ? { nearest_mode: attribute.string(transformation === 'asymmetric' ? 'floor' : 'round_prefer_ceil') } : {}),
    });
    ctx.emitFromNchw(result, 'float32', [shape[0]!, size[0]!, size[1]!, shape[3]!]);
  };
}

/**
 * Returns Resize's `sizes` for all four NCHW axes. The shorter form with the `axes` attribute
 * (opset 18) is avoided: ONNX Runtime 1.31's transpose optimizer rewrites such a Resize into
 * one whose `sizes` has 0 elements, and the session then fails to load.
 */
function fullSizes(ctx: OpContext, nchw: string, nhwcShape: number[], size: number[]): string {
  const [batch, , , channels] = nhwcShape as [number, number, number, number];
  if (batch >= 0 && channels >= 0) {
    return ctx.graph.addInt64(`${ctx.node.name}/sizes`, [batch, channels, size[0]!, size[1]!]);
  }
  const leading = ctx.temp('batch_channels');
  const sizes = ctx.temp('sizes');
  ctx.emit('Shape', [nchw], [leading], { start: attribute.int(0), end: attribute.int(2) });
  ctx.emit('Concat', [leading, ctx.graph.addInt64(`${ctx.node.name}/spatial_size`, size)], [sizes], { axis: attribute.int(0) });
  return sizes;
}

/**
 * TF DepthToSpace (NHWC): output[b, h * s + i, w * s + j, c] = input[b, h, w, (i * s + j) * C + c],
 * which is ONNX DepthToSpace in NCHW with mode DCR (depth-column-row).
 */
function depthToSpace(ctx: OpContext): void {
  const shape = ctx.rankOf(0, 4);
  const blockSize = ctx.attrs.int('block_size', 0);
  const format = ctx.attrs.string('data_format', 'NHWC');
  if (format !== 'NHWC' || blockSize < 2) {
    throw ctx.unsupported(`data_format ${format} with block_size ${blockSize} is not NHWC with a block size of 2 or more`);
  }
  const result = ctx.temp('depth_to_space_nchw');
  ctx.emit('DepthToSpace', [ctx.toNchw(ctx.input(0))], [result], { blocksize: attribute.int(blockSize), mode: attribute.string('DCR') });
  const scaled = (dim: number): number => (dim < 0 ? -1 : dim * blockSize);
  ctx.emitFromNchw(result, ctx.input(0).dtype, [shape[0]!, scaled(shape[1]!), scaled(shape[2]!), shape[3]! / (blockSize * blockSize)]);
}

export const imageOps = {
  DepthToSpace: depthToSpace,
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
};
