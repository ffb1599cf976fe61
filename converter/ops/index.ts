/** The op mappers, by TF op name. An op missing here fails the conversion with TFJS_OP_UNSUPPORTED. */
import { arrayOps } from './array.ts';
import type { OpContext } from './context.ts';
import { convolutionOps } from './convolution.ts';
import { elementwiseOps } from './elementwise.ts';
import { imageOps } from './image.ts';
import { matmulOps } from './matmul.ts';
import { miscOps } from './misc.ts';
import { reductionOps } from './reduction.ts';

export type OpMapper = (ctx: OpContext) => void;

export const OP_MAPPERS: Readonly<Record<string, OpMapper>> = {
  ...arrayOps,
  ...convolutionOps,
  ...elementwiseOps,
  ...imageOps,
  ...matmulOps,
  ...miscOps,
  ...reductionOps,
};

/** TF op names the converter translates, sorted. */
export const SUPPORTED_OPS: readonly string[] = [...Object.keys(OP_MAPPERS), 'Const', 'Placeholder', 'NoOp'].sort();
