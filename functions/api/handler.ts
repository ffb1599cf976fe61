import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AuthenticationError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiEvent, type ApiRequest, parseJsonBody } from '#commons/http/api-event.ts';
import { errorResponse, jsonResponse } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import type { RouteKey } from './route-table.ts';
import {
  createInputsRoute,
  deleteInputRoute,
  getInputRoute,
  listInputsRoute,
  patchInputsRoute,
} from './routes/inputs.ts';
import {
  createAnnotationsRoute,
  deleteAnnotationRoute,
  listAnnotationsRoute,
  listInputAnnotationsRoute,
  patchAnnotationsRoute,
} from './routes/annotations.ts';
import {
  addConceptLanguagesRoute,
  createConceptRelationsRoute,
  createConceptsRoute,
  deleteConceptRelationsRoute,
  getConceptRoute,
  listConceptLanguagesRoute,
  listConceptRelationsRoute,
  listConceptsRoute,
  patchConceptsRoute,
  searchConceptsRoute,
} from './routes/concepts.ts';
import { getAppRoute, patchAppsRoute } from './routes/apps.ts';
import { annotationSearchesRoute, inputSearchesRoute, legacySearchesRoute } from './routes/searches.ts';
import { createModelRoute, deleteModelRoute, getModelRoute, listModelsRoute, predictRoute } from './routes/models.ts';
import {
  createModelVersionRoute,
  deleteModelVersionRoute,
  getModelVersionMetricsRoute,
  getModelVersionRoute,
  listModelVersionsRoute,
} from './routes/model-versions.ts';
import {
  createWorkflowsRoute,
  deleteWorkflowRoute,
  getWorkflowRoute,
  listWorkflowsRoute,
  workflowResultsRoute,
} from './routes/workflows.ts';

type RouteAction = (request: ApiRequest) => Promise<unknown>;

const ACTIONS: Record<RouteKey, RouteAction> = {
  'GET /v2/models': listModelsRoute,
  'POST /v2/models': createModelRoute,
  'GET /v2/models/{model_id}': getModelRoute,
  'DELETE /v2/models/{model_id}': deleteModelRoute,
  'POST /v2/models/{model_id}/outputs': predictRoute,
  'POST /v2/models/{model_id}/versions/{version_id}/outputs': predictRoute,
  'POST /v2/models/{model_id}/versions': createModelVersionRoute,
  'GET /v2/models/{model_id}/versions': listModelVersionsRoute,
  'GET /v2/models/{model_id}/versions/{version_id}': getModelVersionRoute,
  'DELETE /v2/models/{model_id}/versions/{version_id}': deleteModelVersionRoute,
  'GET /v2/models/{model_id}/versions/{version_id}/metrics': getModelVersionMetricsRoute,
  'POST /v2/inputs': createInputsRoute,
  'GET /v2/inputs': listInputsRoute,
  'GET /v2/inputs/{input_id}': getInputRoute,
  'DELETE /v2/inputs/{input_id}': deleteInputRoute,
  'GET /v2/inputs/{input_id}/annotations': listInputAnnotationsRoute,
  'PATCH /v2/inputs': patchInputsRoute,
  'POST /v2/annotations': createAnnotationsRoute,
  'GET /v2/annotations': listAnnotationsRoute,
  'PATCH /v2/annotations': patchAnnotationsRoute,
  'DELETE /v2/inputs/{input_id}/annotations/{annotation_id}': deleteAnnotationRoute,
  'POST /v2/concepts': createConceptsRoute,
  'GET /v2/concepts': listConceptsRoute,
  'PATCH /v2/concepts': patchConceptsRoute,
  'POST /v2/concepts/searches': searchConceptsRoute,
  'GET /v2/concepts/{concept_id}': getConceptRoute,
  'GET /v2/concepts/{concept_id}/languages': listConceptLanguagesRoute,
  'POST /v2/concepts/{concept_id}/languages': addConceptLanguagesRoute,
  'GET /v2/concepts/{concept_id}/relations': listConceptRelationsRoute,
  'POST /v2/concepts/{concept_id}/relations': createConceptRelationsRoute,
  'DELETE /v2/concepts/{concept_id}/relations': deleteConceptRelationsRoute,
  'POST /v2/workflows': createWorkflowsRoute,
  'GET /v2/workflows': listWorkflowsRoute,
  'GET /v2/workflows/{workflow_id}': getWorkflowRoute,
  'DELETE /v2/workflows/{workflow_id}': deleteWorkflowRoute,
  'POST /v2/workflows/{workflow_id}/results': workflowResultsRoute,
  'PATCH /v2/apps': patchAppsRoute,
  'GET /v2/apps/{app_id}': getAppRoute,
  'POST /v2/annotations/searches': annotationSearchesRoute,
  'POST /v2/inputs/searches': inputSearchesRoute,
  'POST /v2/searches': legacySearchesRoute,
};

/**
 * Serves the Clarifai v2 HTTP API. API Gateway (or the local server) has already matched
 * the route and run the authorizer. This function checks the authorizer's verdict, parses
 * the request, runs the route action and maps typed errors to Clarifai error bodies.
 */
async function handleRequest(event: ApiEvent, context: Context): Promise<APIGatewayProxyStructuredResultV2> {
  const requestId = event.requestContext.requestId ?? context.awsRequestId;

  try {
    const action = ACTIONS[event.routeKey as RouteKey] as RouteAction | undefined;
    if (action === undefined) {
      throw new NotFoundError(
        'ROUTE_NOT_FOUND',
        `No route matches ${event.requestContext.http.method} ${event.rawPath}. See the README for the supported /v2 routes.`,
        StatusCode.BAD_REQUEST_FORMAT,
      );
    }
    const appId = authorizedAppId(event);
    logger.appendKeys({ appId, routeKey: event.routeKey, ...event.pathParameters });

    const request: ApiRequest = {
      appId,
      requestId,
      pathParameters: (event.pathParameters ?? {}) as Record<string, string>,
      query: (event.queryStringParameters ?? {}) as Record<string, string>,
      body: event.requestContext.http.method === 'GET' ? {} : parseJsonBody(event),
    };
    return jsonResponse(200, await action(request));
  } catch (error) {
    const response = errorResponse(error, requestId);
    if ((response.statusCode ?? 500) >= 500) {
      logger.error('request failed', { error });
    } else {
      logger.info('request rejected', { statusCode: response.statusCode, error: (error as Error).message });
    }
    return response;
  } finally {
    logger.resetKeys();
  }
}

function authorizedAppId(event: ApiEvent): string {
  const verdict = event.requestContext.authorizer?.lambda;
  if (verdict?.app_id === undefined) {
    throw new AuthenticationError(
      verdict?.error_code ?? 'API_KEY_MISSING',
      verdict?.error_message ?? 'The request has no API key. Send the header "Authorization: Key <your api key>".',
    );
  }
  return verdict.app_id;
}

export const handler = middy<ApiEvent, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger))
  .handler(handleRequest);
