/**
 * App settings: for now, the workflow that runs on every input added to the app.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { APP_SETTINGS_SK, appPk } from '#commons/storage/keys.ts';

export interface AppSettings {
  app_id: string;
  /** Runs on each new input instead of the built-in default workflow; unset means the built-in one. */
  default_workflow_id?: string;
  modified_at?: string;
}

export async function getAppSettings(appId: string): Promise<AppSettings> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: APP_SETTINGS_SK } }),
  );
  if (Item === undefined) {
    return { app_id: appId };
  }
  const { pk: _pk, sk: _sk, ...settings } = Item;
  return settings as AppSettings;
}

/** Sets the app's default workflow; `undefined` goes back to the built-in default workflow. */
export async function setDefaultWorkflow(appId: string, workflowId: string | undefined): Promise<AppSettings> {
  const now = new Date().toISOString();
  const { Attributes } = await documentClient().send(
    new UpdateCommand({
      TableName: config.tableName,
      Key: { pk: appPk(appId), sk: APP_SETTINGS_SK },
      UpdateExpression:
        workflowId === undefined
          ? 'SET app_id = :app, modified_at = :now REMOVE default_workflow_id'
          : 'SET app_id = :app, modified_at = :now, default_workflow_id = :workflow',
      ExpressionAttributeValues:
        workflowId === undefined ? { ':app': appId, ':now': now } : { ':app': appId, ':now': now, ':workflow': workflowId },
      ReturnValues: 'ALL_NEW',
    }),
  );
  const { pk: _pk, sk: _sk, ...settings } = Attributes ?? { app_id: appId };
  return settings as AppSettings;
}
