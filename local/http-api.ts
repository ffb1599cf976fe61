/**
 * A local stand-in for the API Gateway HTTP API: it turns each request into a payload
 * 2.0 event, runs the Lambda authorizer, then the API function, as API Gateway does.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { matchRoute } from '../functions/api/route-table.ts';
import { type LocalFunction, invokeLocal } from './lambda.ts';

// API Gateway HTTP APIs accept request bodies of at most 10 MB.
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface LocalHttpApi {
  url: string;
  server: Server;
}

export async function startLocalHttpApi(
  options: { port: number; host: string },
  functions: { api: LocalFunction; authorizer: LocalFunction },
): Promise<LocalHttpApi> {
  const server = createServer((request, response) => {
    void (async () => {
      let result: APIGatewayProxyStructuredResultV2;
      try {
        result = await handle(request, functions);
      } catch (error) {
        logger.error('local API request failed', { error });
        result = clarifaiError(500, StatusCode.INTERNAL_ERROR, 'INTERNAL_ERROR', 'The local API failed to run the request. See the server log.');
      }
      response.statusCode = result.statusCode ?? 200;
      for (const [name, value] of Object.entries(result.headers ?? {})) {
        response.setHeader(name, String(value));
      }
      response.end(result.body ?? '');
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${options.host}:${port}`, server };
}

async function handle(
  request: IncomingMessage,
  functions: { api: LocalFunction; authorizer: LocalFunction },
): Promise<APIGatewayProxyStructuredResultV2> {
  const body = await readBody(request);
  if (body === undefined) {
    return clarifaiError(
      413,
      StatusCode.INPUT_OVER_LIMIT,
      'REQUEST_TOO_LARGE',
      `The request body is larger than ${MAX_BODY_BYTES} bytes, the API Gateway limit. Send fewer or smaller images per request.`,
    );
  }

  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = (request.method ?? 'GET').toUpperCase();
  const match = matchRoute(method, url.pathname);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = name in query ? `${query[name]},${value}` : value;
  }

  const now = new Date();
  const requestContext = {
    accountId: '000000000000',
    apiId: 'local',
    domainName: headers.host ?? '127.0.0.1',
    domainPrefix: 'local',
    http: {
      method,
      path: url.pathname,
      protocol: `HTTP/${request.httpVersion}`,
      sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
      userAgent: headers['user-agent'] ?? '',
    },
    requestId: randomUUID(),
    routeKey: match?.routeKey ?? '$default',
    stage: '$default',
    time: now.toISOString(),
    timeEpoch: now.getTime(),
  };
  const event = {
    version: '2.0',
    routeKey: requestContext.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    pathParameters: match?.pathParameters,
    requestContext,
    body: body.length > 0 ? body.toString('utf8') : undefined,
    isBase64Encoded: false,
  };

  const verdict = (await invokeLocal(functions.authorizer, { ...event, type: 'REQUEST', identitySource: [] })) as {
    isAuthorized: boolean;
    context?: Record<string, unknown>;
  };
  if (!verdict.isAuthorized) {
    return { statusCode: 403, headers: { 'content-type': 'application/json' }, body: '{"message":"Forbidden"}' };
  }
  const withAuthorizer = { ...event, requestContext: { ...requestContext, authorizer: { lambda: verdict.context ?? {} } } };
  return (await invokeLocal(functions.api, withAuthorizer)) as APIGatewayProxyStructuredResultV2;
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      // Keep reading so the client gets the response instead of a reset connection.
      continue;
    }
    chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

function clarifaiError(httpStatus: number, code: number, errorCode: string, details: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: httpStatus,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: { code, description: 'Failure', details, error_code: errorCode } }),
  };
}
