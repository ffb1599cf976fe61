/**
 * A local EventBridge stand-in for tests: serves PutEvents (AWS JSON 1.1,
 * `X-Amz-Target: AWSEvents.PutEvents`) on 127.0.0.1 and records each request.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PutEventsEntry {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
}

export interface RecordedRequest {
  headers: IncomingHttpHeaders;
  entries: PutEventsEntry[];
  eventIds: string[];
}

export interface LocalEventBus {
  endpoint: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

/** Entries sent to this bus fail, as EventBridge reports an entry it could not store. */
export const FAILING_BUS = 'failing-bus';

export async function startEventBus(): Promise<LocalEventBus> {
  const requests: RecordedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(body));
      };
      if (request.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
        reply(400, { __type: 'UnknownOperationException', message: `Unsupported target ${String(request.headers['x-amz-target'])}` });
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries?: PutEventsEntry[] };
      const entries = body.Entries ?? [];
      const results: Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }> = entries.map((entry) =>
        entry.EventBusName === FAILING_BUS
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'The event could not be stored.' }
          : { EventId: randomUUID() },
      );
      const eventIds = results.flatMap((result) => (result.EventId === undefined ? [] : [result.EventId]));
      requests.push({ headers: request.headers, entries, eventIds });
      reply(200, { Entries: results, FailedEntryCount: results.length - eventIds.length });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
