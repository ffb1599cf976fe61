/**
 * The EventBridge client, created once per container. Its endpoint comes from the SDK's
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` variable when set (a local stand-in), otherwise AWS.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';

let client: EventBridgeClient | undefined;

export function eventBridgeClient(): EventBridgeClient {
  client ??= new EventBridgeClient({});
  return client;
}

/** Returns the bus that results-push publishes to, from `EVENT_BUS_NAME`. */
export function eventBusName(): string {
  const name = process.env.EVENT_BUS_NAME;
  if (name === undefined || name === '') {
    throw new Error('Environment variable EVENT_BUS_NAME is missing. Set it to the event bus that results-push publishes to.');
  }
  return name;
}
