/**
 * A local EventBridge endpoint: the AWS JSON 1.1 protocol of `PutEvents`, which
 * @aws-sdk/client-eventbridge speaks. It records every event, so tests and `npm start`
 * users can read what Percept emitted, and delivers events that match a rule to that
 * rule's local function, as an EventBridge rule with a Lambda target does.
 *
 * Rule patterns support what Percept's rules use: per field, a list of accepted values,
 * and nested objects for `detail`. A `{prefix}` entry in a list matches a string prefix.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '#commons/logger.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalFunction, invokeLocal } from './lambda.ts';
import { closeServer } from './step-functions.ts';

/** An event as EventBridge delivers it to targets. */
export interface LocalEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
  /** Not part of EventBridge's event: the bus it was put on, for tests to filter by. */
  eventBusName: string;
}

export interface LocalRule {
  name: string;
  eventBusName: string;
  pattern: Record<string, unknown>;
  target: LocalFunction;
}

export interface LocalEventBridge {
  endpoint: string;
  /** Every event put so far, oldest first. */
  events(): LocalEvent[];
  /** Resolves when every delivery to a rule target has finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

interface PutEventsEntry {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Resources?: string[];
  Time?: number;
}

export async function startLocalEventBridge(rules: readonly LocalRule[]): Promise<LocalEventBridge> {
  const recorded: LocalEvent[] = [];
  const deliveries = new Set<Promise<void>>();

  function putEvents(entries: readonly PutEventsEntry[]): Record<string, unknown> {
    const results = entries.map((entry) => {
      let detail: Record<string, unknown>;
      try {
        detail = JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>;
      } catch {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      }
      if (entry.Source === undefined || entry.DetailType === undefined) {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source and DetailType are required.' };
      }
      const event: LocalEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: LOCAL_ACCOUNT,
        time: new Date(entry.Time === undefined ? Date.now() : entry.Time * 1000).toISOString(),
        region: LOCAL_REGION,
        resources: entry.Resources ?? [],
        detail,
        eventBusName: entry.EventBusName ?? 'default',
      };
      recorded.push(event);
      deliver(event);
      return { EventId: event.id };
    });
    const failed = results.filter((result) => 'ErrorCode' in result).length;
    return { FailedEntryCount: failed, Entries: results };
  }

  function deliver(event: LocalEvent): void {
    for (const rule of rules) {
      if (rule.eventBusName !== event.eventBusName || !matches(rule.pattern, event as unknown as Record<string, unknown>)) {
        continue;
      }
      const { eventBusName: _bus, ...delivered } = event;
      const delivery = invokeLocal(rule.target, delivered)
        .then(() => undefined)
        .catch((error: unknown) => logger.error('local rule target failed', { rule: rule.name, error }))
        .finally(() => deliveries.delete(delivery));
      deliveries.add(delivery);
    }
  }

  const server = createServer((request, response) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) {
        chunks.push(chunk as Buffer);
      }
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      const target = String(request.headers['x-amz-target'] ?? '');
      if (target !== 'AWSEvents.PutEvents') {
        response.statusCode = 400;
        response.end(JSON.stringify({ __type: 'UnknownOperationException', message: `The local EventBridge endpoint does not implement ${target}.` }));
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Entries?: PutEventsEntry[] };
        response.end(JSON.stringify(putEvents(body.Entries ?? [])));
      } catch (error) {
        response.statusCode = 400;
        response.end(JSON.stringify({ __type: 'ValidationException', message: (error as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    events: () => [...recorded],
    idle: async () => {
      while (deliveries.size > 0) {
        await Promise.all(deliveries);
      }
    },
    stop: () => closeServer(server),
  };
}

/** Returns whether `value` matches an EventBridge event pattern (the subset described above). */
export function matches(pattern: Record<string, unknown>, value: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([field, expected]) => {
    const actual = value[field];
    if (Array.isArray(expected)) {
      return expected.some((candidate: unknown) => {
        if (typeof candidate === 'object' && candidate !== null && 'prefix' in candidate) {
          return typeof actual === 'string' && actual.startsWith(String((candidate as { prefix: unknown }).prefix));
        }
        return candidate === actual;
      });
    }
    if (typeof expected === 'object' && expected !== null) {
      return typeof actual === 'object' && actual !== null && matches(expected as Record<string, unknown>, actual as Record<string, unknown>);
    }
    return false;
  });
}
