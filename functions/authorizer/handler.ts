import type { APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import type { AuthorizerContext } from '#commons/http/api-event.ts';
import { logger } from '#commons/logger.ts';
import { findAppIdForKey } from '#commons/storage/api-keys.ts';

export interface AuthorizerResult {
  isAuthorized: boolean;
  context: AuthorizerContext;
}

/**
 * HTTP API Lambda authorizer (payload 2.0, simple responses) for Clarifai's
 * `Authorization: Key <api key>` header.
 *
 * It lets every request through to the API function, with either the key's app id or
 * the reason the key was rejected in the context. API Gateway's own rejection would
 * return `{"message":"Forbidden"}`, which Clarifai clients cannot read. The API function
 * instead returns 401 with a Clarifai status body, and runs no route without an app id.
 */
export async function handler(event: APIGatewayRequestAuthorizerEventV2, context?: Context): Promise<AuthorizerResult> {
  logger.addContext(context ?? ({} as Context));
  const header = event.headers?.authorization ?? event.headers?.Authorization;

  if (header === undefined || header.trim() === '') {
    return rejected('API_KEY_MISSING', 'The request has no API key. Send the header "Authorization: Key <your api key>".');
  }
  const match = /^Key\s+(\S+)\s*$/i.exec(header.trim());
  if (match?.[1] === undefined) {
    return rejected(
      'AUTHORIZATION_HEADER_INVALID',
      `The Authorization header must be "Key <your api key>"; got a value starting with ${JSON.stringify(header.trim().split(/\s+/)[0])}.`,
    );
  }

  const appId = await findAppIdForKey(match[1]);
  if (appId === undefined) {
    logger.info('unknown API key rejected');
    return rejected('API_KEY_INVALID', 'The API key is not valid. Check the key, or create one (npm start prints the local key).');
  }
  return { isAuthorized: true, context: { app_id: appId } };
}

function rejected(errorCode: string, errorMessage: string): AuthorizerResult {
  return { isAuthorized: true, context: { error_code: errorCode, error_message: errorMessage } };
}
