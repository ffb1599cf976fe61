/**
 * The SageMaker inference container: `GET /ping` and `POST /invocations` over node:http.
 *
 * `GET /ping` returns 200 once the ONNX session is loaded and 503 before. `POST /invocations`
 * takes `{"inputs": [{"data": {"image": {"base64": "..."}}}], "output_config": {...}}` as
 * application/json, or one image file's bytes, and returns `{"outputs": [{"data": ...}]}` in
 * input order. Errors return `{"error_code", "message"}` with the PerceptError's HTTP status.
 *
 * Start: `node --import tsx sagemaker/serving/server.ts [serve]`. SageMaker passes `serve`.
 * Environment: SM_MODEL_DIR, SAGEMAKER_BIND_TO_PORT, SERVING_HOST, PERCEPT_EXECUTION_PROVIDER
 * (see config.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { readServingConfig } from './config.ts';
import { parseInvocation } from './invocations.ts';
import { loadServingModel, predictImages, type ServingModel } from './model.ts';

class RequestTooLargeError extends PerceptError {
  public constructor(maxBytes: number) {
    super(`The request body is larger than ${maxBytes} bytes. Send fewer or smaller images per request.`, {
      code: 'REQUEST_TOO_LARGE',
      statusCode: StatusCode.INPUT_OVER_LIMIT,
      httpStatus: 413,
    });
    this.name = 'RequestTooLargeError';
  }
}

const args = process.argv.slice(2);
if (args.length > 1 || (args.length === 1 && args[0] !== 'serve')) {
  logger.error('invalid arguments: the only accepted argument is serve', { args });
  process.exit(2);
}

const config = readServingConfig();
let model: ServingModel | undefined;

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response: ServerResponse, status: number, errorCode: string, message: string): void {
  sendJson(response, status, { error_code: errorCode, message });
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    throw new RequestTooLargeError(maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      throw new RequestTooLargeError(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function handleInvocation(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const started = performance.now();
  if (model === undefined) {
    // Drain the body so the client can read the response on the same connection.
    request.resume();
    sendError(response, 503, 'MODEL_NOT_LOADED', 'The model is still loading. Retry when GET /ping returns 200.');
    return;
  }

  try {
    const body = await readBody(request, config.maxBodyBytes);
    const { images, outputConfig } = await parseInvocation(request.headers['content-type'], body);
    const outputs = await predictImages(model, images, outputConfig);
    sendJson(response, 200, { outputs: outputs.map((data) => ({ data })) });
    logger.debug('invocation served', { images: images.length, durationMs: Math.round(performance.now() - started) });
  } catch (error) {
    if (error instanceof PerceptError && error.httpStatus < 500) {
      logger.info('invocation rejected', { errorCode: error.code, message: error.message });
      request.resume();
      sendError(response, error.httpStatus, error.code, error.message);
      return;
    }
    logger.error('invocation failed', { error });
    sendError(response, 500, 'INTERNAL_ERROR', 'The model failed to process the request. See the endpoint logs.');
  }
}

function route(request: IncomingMessage, response: ServerResponse): void {
  const pathname = (request.url ?? '/').split('?')[0];
  if (pathname === '/ping') {
    if (request.method !== 'GET') {
      sendError(response, 405, 'METHOD_NOT_ALLOWED', `Use GET /ping, not ${request.method}.`);
      return;
    }
    if (model === undefined) {
      sendError(response, 503, 'MODEL_NOT_LOADED', 'The model is still loading.');
    } else {
      sendJson(response, 200, { status: 'healthy', model_id: model.manifest.id, execution_provider: model.provider });
    }
    return;
  }
  if (pathname === '/invocations') {
    if (request.method !== 'POST') {
      sendError(response, 405, 'METHOD_NOT_ALLOWED', `Use POST /invocations, not ${request.method}.`);
      return;
    }
    void handleInvocation(request, response);
    return;
  }
  sendError(response, 404, 'NOT_FOUND', `No route ${request.method} ${pathname}. This server handles GET /ping and POST /invocations.`);
}

const server = createServer(route);

server.listen(config.port, config.host, () => {
  logger.info('serving started', { host: config.host, port: config.port, modelDir: config.modelDir, provider: config.provider });
});

loadServingModel(config.modelDir, config.provider, config.modelWaitMs).then(
  (loaded) => {
    model = loaded;
  },
  (error: unknown) => {
    // Without a model, /ping would return 503 forever. Exiting makes SageMaker fail the endpoint with this log.
    logger.error('model load failed', { error, modelDir: config.modelDir });
    process.exit(1);
  },
);

const SHUTDOWN_GRACE_MS = 5000;

/** Stops accepting connections, lets running invocations finish, then exits. */
function shutdown(signal: string): void {
  logger.info('serving stopping', { signal });
  server.close(() => process.exit(0));
  // An invocation still running after the grace period is cut off.
  setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
