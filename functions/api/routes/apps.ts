/**
 * App routes: read an app's settings and set its default workflow, the workflow that runs
 * on every input added to the app (through `POST /v2/inputs` or the bucket).
 *
 * `PATCH /v2/apps` takes Clarifai's body for `PATCH /v2/users/{user_id}/apps`:
 * `{"action": "overwrite", "apps": [{"id": "<app id>", "default_workflow_id": "<workflow id>"}]}`.
 * Percept has no user ids in its paths, as the API key names the app. An empty
 * `default_workflow_id` goes back to the built-in default workflow.
 */
import { DEFAULT_WORKFLOW_ID } from '#commons/workflows/default-workflow.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { ApiRequest } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { type AppSettings, getAppSettings, setDefaultWorkflow } from '#commons/storage/apps.ts';
import { getWorkflowRecord } from '#commons/storage/workflows.ts';

// The built-in default workflow's id, as GET returns it when the app has chosen none.

function toClarifaiApp(settings: AppSettings): Record<string, unknown> {
  return {
    id: settings.app_id,
    default_workflow_id: settings.default_workflow_id ?? DEFAULT_WORKFLOW_ID,
    ...(settings.modified_at === undefined ? {} : { modified_at: settings.modified_at }),
  };
}

export async function getAppRoute(request: ApiRequest): Promise<unknown> {
  const appId = request.pathParameters.app_id ?? '';
  checkOwnApp(request, appId, 'app_id in the path');
  return { status: okStatus(request.requestId), app: toClarifaiApp(await getAppSettings(appId)) };
}

export async function patchAppsRoute(request: ApiRequest): Promise<unknown> {
  const body = request.body as { action?: unknown; apps?: unknown } | null;
  const action = body?.action ?? 'overwrite';
  if (action !== 'overwrite' && action !== 'merge') {
    throw new InvalidInputError(
      'INVALID_ACTION',
      `action ${JSON.stringify(action)} is not supported. Send "overwrite" (or "merge", which is the same for default_workflow_id).`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const apps = body?.apps;
  if (!Array.isArray(apps) || apps.length !== 1) {
    throw new InvalidInputError(
      'APPS_MISSING',
      'Send exactly one app: {"action": "overwrite", "apps": [{"id": "<app id>", "default_workflow_id": "<workflow id>"}]}.',
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const app = apps[0] as { id?: unknown; default_workflow_id?: unknown } | null;
  checkOwnApp(request, app?.id, 'apps[0].id');

  const workflowId = app?.default_workflow_id;
  if (workflowId !== undefined && workflowId !== null && typeof workflowId !== 'string') {
    throw new InvalidInputError(
      'INVALID_WORKFLOW_ID',
      `apps[0].default_workflow_id must be a workflow id, got ${JSON.stringify(workflowId)}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  let settings: AppSettings;
  if (workflowId === undefined) {
    settings = await getAppSettings(request.appId);
  } else if (workflowId === null || workflowId === '' || workflowId === DEFAULT_WORKFLOW_ID) {
    settings = await setDefaultWorkflow(request.appId, undefined);
  } else {
    await getWorkflowRecord(request.appId, workflowId);
    settings = await setDefaultWorkflow(request.appId, workflowId);
  }

  logger.info('app updated', { appId: request.appId, defaultWorkflowId: settings.default_workflow_id });
  return { status: okStatus(request.requestId), apps: [toClarifaiApp(settings)] };
}

// An API key belongs to one app, so a request can only read or change that app.
function checkOwnApp(request: ApiRequest, appId: unknown, field: string): void {
  if (appId !== request.appId) {
    throw new InvalidInputError(
      'APP_MISMATCH',
      `${field} ${JSON.stringify(appId)} is not the app of this API key (${JSON.stringify(request.appId)}). Use the key of that app.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
}
