/** Stopping a version's training job when its version or model is deleted. */
import { StopTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { logger } from '#commons/logger.ts';
import { sageMakerClient } from '#commons/deep-training/clients.ts';

/** Stops a training job; a job that already ended or does not exist is left as it is. */
export async function stopTrainingJob(trainingJobName: string): Promise<void> {
  try {
    await sageMakerClient().send(new StopTrainingJobCommand({ TrainingJobName: trainingJobName }));
    logger.info('training job stopped', { trainingJobName });
  } catch (error) {
    // SageMaker raises ValidationException for a job that is not running and ResourceNotFound for an unknown one.
    const name = (error as Error).name;
    if (name !== 'ValidationException' && name !== 'ResourceNotFound') {
      throw error;
    }
    logger.info('training job not stopped', { trainingJobName, reason: (error as Error).message });
  }
}
