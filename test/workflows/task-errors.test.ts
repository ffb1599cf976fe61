import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '#commons/errors.ts';
import { TaskError, describeCaughtError, toTaskError } from '#commons/lambda/task-errors.ts';

describe('task errors', () => {
  it('rename a PerceptError to its code', () => {
    const converted = toTaskError(new InvalidInputError('IMAGE_TRUNCATED', 'The JPEG ends early.'));

    expect(converted).toBeInstanceOf(TaskError);
    expect((converted as Error).name).toBe('IMAGE_TRUNCATED');
    expect((converted as Error).message).toBe('The JPEG ends early.');
  });

  it('pass other errors through', () => {
    const error = new RangeError('boom');

    expect(toTaskError(error)).toBe(error);
  });

  it('read a Lambda error cause', () => {
    const caught = {
      Error: 'NOT_AN_IMAGE',
      Cause: JSON.stringify({ errorType: 'NOT_AN_IMAGE', errorMessage: 'The bytes are not an image.', trace: [] }),
    };

    expect(describeCaughtError(caught)).toEqual({ code: 'NOT_AN_IMAGE', message: 'The bytes are not an image.' });
  });

  it('map service errors to INTERNAL_ERROR', () => {
    expect(describeCaughtError({ Error: 'States.Timeout', Cause: 'Task timed out after 60 seconds' })).toEqual({
      code: 'INTERNAL_ERROR',
      message: 'States.Timeout: Task timed out after 60 seconds',
    });
    expect(describeCaughtError({ Error: 'States.Timeout' })).toEqual({
      code: 'INTERNAL_ERROR',
      message: 'The workflow failed with States.Timeout.',
    });
  });
});
