import { createModelTaskHandler } from '../model-task.ts';

/** Step Functions task: runs one visual-detector model on an input's image. */
export const handler = createModelTaskHandler('visual-detector');
