/**
 * SageMaker and Application Auto Scaling clients, created once per container. Their
 * endpoints come from `AWS_ENDPOINT_URL_SAGEMAKER`, `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and
 * `AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING`, which the local stack points at its SageMaker
 * stand-in; on AWS they are unset.
 */
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

let sageMaker: SageMakerClient | undefined;
let sageMakerRuntime: SageMakerRuntimeClient | undefined;
let autoScaling: ApplicationAutoScalingClient | undefined;

export function sageMakerClient(): SageMakerClient {
  sageMaker ??= new SageMakerClient({});
  return sageMaker;
}

export function sageMakerRuntimeClient(): SageMakerRuntimeClient {
  sageMakerRuntime ??= new SageMakerRuntimeClient({});
  return sageMakerRuntime;
}

export function autoScalingClient(): ApplicationAutoScalingClient {
  autoScaling ??= new ApplicationAutoScalingClient({});
  return autoScaling;
}
