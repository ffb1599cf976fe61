/**
 * Training status codes of embedding-classifier versions. Kept apart from `model-type.ts`,
 * which loads the model runtime, so that the operators function can read versions without it.
 */
import type { Status } from '#commons/clarifai/types.ts';

/**
 * Clarifai's model version status codes (the StatusCode list of Clarifai's API: 21100 MODEL_TRAINED,
 * 21101 MODEL_TRAINING, 21103 MODEL_QUEUED_FOR_TRAINING, 21106 MODEL_TRAINING_FAILED,
 * 21110 MODEL_TRAINING_NO_DATA, 21111 MODEL_TRAINING_NO_POSITIVES).
 */
export const TrainingStatusCode = {
  MODEL_TRAINED: 21100,
  MODEL_TRAINING: 21101,
  MODEL_QUEUED_FOR_TRAINING: 21103,
  MODEL_TRAINING_FAILED: 21106,
  MODEL_TRAINING_NO_DATA: 21110,
  MODEL_TRAINING_NO_POSITIVES: 21111,
} as const;

export type TrainingFailureCode = 'MODEL_TRAINING_FAILED' | 'MODEL_TRAINING_NO_DATA' | 'MODEL_TRAINING_NO_POSITIVES';

export const TrainingStatus = {
  queued: (): Status => ({ code: TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING, description: 'Model queued for training' }),
  training: (): Status => ({ code: TrainingStatusCode.MODEL_TRAINING, description: 'Model is currently training' }),
  trained: (): Status => ({ code: TrainingStatusCode.MODEL_TRAINED, description: 'Model is trained and ready' }),
  failed: (errorCode: TrainingFailureCode, details: string): Status => ({
    code: TrainingStatusCode[errorCode],
    description: 'Model training failed',
    details,
    error_code: errorCode,
  }),
};
