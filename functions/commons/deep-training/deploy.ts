/**
 * Serving trained versions. Every version is one SageMaker inference component on the
 * stack's shared endpoint (declared by the DeepModels construct): a SageMaker model
 * (serving image + the job's model.tar.gz) and an inference component that runs copies of
 * it, each copy on one GPU. Application Auto Scaling keeps the copy count between 0 and
 * `maxCopies` by target tracking on invocations per copy; SageMaker scales to zero only for
 * inference components, which is why versions are not endpoints of their own.
 */
import {
  DeregisterScalableTargetCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DeleteInferenceComponentCommand,
  DeleteModelCommand,
  DescribeInferenceComponentCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { logger } from '#commons/logger.ts';
import { autoScalingClient, sageMakerClient } from '#commons/deep-training/clients.ts';
import { VARIANT_NAME, deepTrainingSettings, versionResourceName } from '#commons/deep-training/settings.ts';
import type { DeepDeployment, DeepModelVersionRecord } from '#commons/deep-training/versions.ts';

const SCALABLE_DIMENSION = 'sagemaker:inference-component:DesiredCopyCount';

/** Memory that one copy reserves on the instance, in MB: the ONNX session plus Node.js, with room to spare. */
const COPY_MEMORY_MB = 2048;

function isAlreadyExists(error: unknown): boolean {
  return /already exist/i.test((error as Error).message ?? '');
}

function isNotFound(error: unknown): boolean {
  const { name, message } = error as Error;
  return name === 'ObjectNotFoundException' || /could not find|not found|does not exist|no scalable target/i.test(message ?? '');
}

/**
 * Creates the SageMaker model and inference component of a trained version and sets up its
 * auto scaling. Safe to repeat: resources that already exist are kept, because SageMaker may
 * deliver a training job's Completed event more than once. Returns the deployment to store.
 */
export async function deployVersion(version: DeepModelVersionRecord, modelDataUrl: string): Promise<DeepDeployment> {
  const name = versionResourceName(version.id);
  const endpointName = deepTrainingSettings.endpointName;
  const tags = [
    { Key: 'percept:app-id', Value: version.app_id },
    { Key: 'percept:model-id', Value: version.model_id },
    { Key: 'percept:version-id', Value: version.id },
  ];
  const logKeys = { appId: version.app_id, modelId: version.model_id, versionId: version.id, inferenceComponentName: name };

  try {
    await sageMakerClient().send(
      new CreateModelCommand({
        ModelName: name,
        ExecutionRoleArn: deepTrainingSettings.executionRoleArn,
        PrimaryContainer: { Image: deepTrainingSettings.servingImageUri, ModelDataUrl: modelDataUrl },
        Tags: tags,
      }),
    );
  } catch (error) {
    if (!isAlreadyExists(error)) {
      throw error;
    }
    logger.info('sagemaker model already exists', logKeys);
  }
  try {
    await sageMakerClient().send(
      new CreateInferenceComponentCommand({
        InferenceComponentName: name,
        EndpointName: endpointName,
        VariantName: VARIANT_NAME,
        Specification: {
          ModelName: name,
          ComputeResourceRequirements: { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: COPY_MEMORY_MB },
        },
        // SageMaker rejects a copy count of 0 at creation; auto scaling takes it down when idle.
        RuntimeConfig: { CopyCount: 1 },
        Tags: tags,
      }),
    );
  } catch (error) {
    if (!isAlreadyExists(error)) {
      throw error;
    }
    logger.info('inference component already exists', logKeys);
  }
  logger.info('version deployed', { ...logKeys, endpointName });

  const deployment: DeepDeployment = {
    endpoint_name: endpointName,
    inference_component_name: name,
    model_name: name,
    model_data_url: modelDataUrl,
  };
  return { ...deployment, auto_scaling: await tryRegisterAutoScaling(deployment) };
}

/**
 * Registers the inference component's copy count with Application Auto Scaling (0 to
 * `maxCopies`) and puts its target-tracking policy. Returns `registered`, or `pending` when
 * Application Auto Scaling rejected it, which it may do while the component is still being
 * created. Predictions try again after their first success (`ensureAutoScaling`).
 */
export async function tryRegisterAutoScaling(deployment: DeepDeployment): Promise<'registered' | 'pending'> {
  const resourceId = `inference-component/${deployment.inference_component_name}`;
  try {
    await autoScalingClient().send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: 'sagemaker',
        ResourceId: resourceId,
        ScalableDimension: SCALABLE_DIMENSION,
        MinCapacity: 0,
        MaxCapacity: deepTrainingSettings.maxCopies,
      }),
    );
    await autoScalingClient().send(
      new PutScalingPolicyCommand({
        PolicyName: `${deployment.inference_component_name}-invocations`,
        PolicyType: 'TargetTrackingScaling',
        ServiceNamespace: 'sagemaker',
        ResourceId: resourceId,
        ScalableDimension: SCALABLE_DIMENSION,
        TargetTrackingScalingPolicyConfiguration: {
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' },
          TargetValue: deepTrainingSettings.targetInvocationsPerCopy,
          ScaleInCooldown: 900,
          ScaleOutCooldown: 60,
        },
      }),
    );
    return 'registered';
  } catch (error) {
    logger.warn('auto scaling not registered yet', { inferenceComponentName: deployment.inference_component_name, error });
    return 'pending';
  }
}

/** The live state of an inference component, as `DescribeInferenceComponent` reports it. */
export interface ComponentState {
  status: string;
  failureReason?: string;
  currentCopyCount: number;
  desiredCopyCount: number;
}

/** Returns the inference component's state, or undefined when it does not exist. */
export async function describeComponent(deployment: DeepDeployment): Promise<ComponentState | undefined> {
  try {
    const component = await sageMakerClient().send(
      new DescribeInferenceComponentCommand({ InferenceComponentName: deployment.inference_component_name }),
    );
    return {
      status: component.InferenceComponentStatus ?? 'Unknown',
      failureReason: component.FailureReason,
      currentCopyCount: component.RuntimeConfig?.CurrentCopyCount ?? 0,
      desiredCopyCount: component.RuntimeConfig?.DesiredCopyCount ?? 0,
    };
  } catch (error) {
    if (isNotFound(error)) {
      return undefined;
    }
    throw error;
  }
}

/** Sets the component's copy count to one, which starts an instance when the endpoint has scaled to zero. */
export async function wakeComponent(deployment: DeepDeployment): Promise<void> {
  await sageMakerClient().send(
    new UpdateInferenceComponentRuntimeConfigCommand({
      InferenceComponentName: deployment.inference_component_name,
      DesiredRuntimeConfig: { CopyCount: 1 },
    }),
  );
  logger.info('inference component scaling from zero', { inferenceComponentName: deployment.inference_component_name });
}

/** Deletes a version's scaling target, inference component and model; missing ones are skipped. */
export async function undeployVersion(deployment: DeepDeployment): Promise<void> {
  const steps: Array<() => Promise<unknown>> = [
    () =>
      autoScalingClient().send(
        new DeregisterScalableTargetCommand({
          ServiceNamespace: 'sagemaker',
          ResourceId: `inference-component/${deployment.inference_component_name}`,
          ScalableDimension: SCALABLE_DIMENSION,
        }),
      ),
    () => sageMakerClient().send(new DeleteInferenceComponentCommand({ InferenceComponentName: deployment.inference_component_name })),
    () => sageMakerClient().send(new DeleteModelCommand({ ModelName: deployment.model_name })),
  ];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      if (!isNotFound(error)) {
        throw error;
      }
    }
  }
  logger.info('version undeployed', { inferenceComponentName: deployment.inference_component_name });
}
