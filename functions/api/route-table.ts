/**
 * The HTTP API's routes, in API Gateway's `METHOD /path/{param}` form. CDK creates one
 * API Gateway route per entry and the local server matches requests against the same
 * list, so both see identical route keys and path parameters.
 */
export const ROUTE_KEYS = [
  'GET /v2/models',
  'POST /v2/models',
  'GET /v2/models/{model_id}',
  'DELETE /v2/models/{model_id}',
  'POST /v2/models/{model_id}/outputs',
  'POST /v2/models/{model_id}/versions/{version_id}/outputs',
  'POST /v2/models/{model_id}/versions',
  'GET /v2/models/{model_id}/versions',
  'GET /v2/models/{model_id}/versions/{version_id}',
  'DELETE /v2/models/{model_id}/versions/{version_id}',
  'GET /v2/models/{model_id}/versions/{version_id}/metrics',
  'POST /v2/inputs',
  'GET /v2/inputs',
  'GET /v2/inputs/{input_id}',
  'DELETE /v2/inputs/{input_id}',
  'GET /v2/inputs/{input_id}/annotations',
  'PATCH /v2/inputs',
  'POST /v2/annotations',
  'GET /v2/annotations',
  'PATCH /v2/annotations',
  'DELETE /v2/inputs/{input_id}/annotations/{annotation_id}',
  'POST /v2/concepts',
  'GET /v2/concepts',
  'PATCH /v2/concepts',
  'POST /v2/concepts/searches',
  'GET /v2/concepts/{concept_id}',
  'GET /v2/concepts/{concept_id}/languages',
  'POST /v2/concepts/{concept_id}/languages',
  'GET /v2/concepts/{concept_id}/relations',
  'POST /v2/concepts/{concept_id}/relations',
  'DELETE /v2/concepts/{concept_id}/relations',
  'POST /v2/workflows',
  'GET /v2/workflows',
  'GET /v2/workflows/{workflow_id}',
  'DELETE /v2/workflows/{workflow_id}',
  'POST /v2/workflows/{workflow_id}/results',
  'PATCH /v2/apps',
  'GET /v2/apps/{app_id}',
  'POST /v2/annotations/searches',
  'POST /v2/inputs/searches',
  'POST /v2/searches',
] as const;

export type RouteKey = (typeof ROUTE_KEYS)[number];

export interface RouteMatch {
  routeKey: RouteKey;
  pathParameters: Record<string, string>;
}

/** Finds the route for a request, decoding path parameters as API Gateway does. */
export function matchRoute(method: string, path: string): RouteMatch | undefined {
  const pathSegments = path.replace(/\/+$/, '').split('/');
  for (const routeKey of ROUTE_KEYS) {
    const [routeMethod, routePath] = routeKey.split(' ') as [string, string];
    const routeSegments = routePath.split('/');
    if (routeMethod !== method.toUpperCase() || routeSegments.length !== pathSegments.length) {
      continue;
    }
    const pathParameters: Record<string, string> = {};
    const matches = routeSegments.every((segment, index) => {
      const actual = pathSegments[index] ?? '';
      if (segment.startsWith('{') && segment.endsWith('}')) {
        pathParameters[segment.slice(1, -1)] = decodePathSegment(actual);
        return actual !== '';
      }
      return segment === actual;
    });
    if (matches) {
      return { routeKey, pathParameters };
    }
  }
  return undefined;
}

// A malformed escape such as `%zz` is kept as it was sent, so that the route returns
// "not found" for that id instead of failing the request.
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
