import { Duration } from 'aws-cdk-lib';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  type CorsPreflightOptions,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PerceptFunction } from './percept-function.ts';
import type { RuntimeLayer } from './runtime-layer.ts';
import type { Storage } from './storage.ts';
import { ROUTE_KEYS } from '../../functions/api/route-table.ts';

/** Clarifai v2 routes that the API function serves, from the route table the local server also uses. */
export const API_ROUTES: ReadonlyArray<{ method: HttpMethod; path: string }> = ROUTE_KEYS.map((routeKey) => {
  const [method, path] = routeKey.split(' ') as [keyof typeof HttpMethod, string];
  return { method: HttpMethod[method], path };
});

export interface PerceptHttpApiProps {
  /** Bucket the uploads are written to and deleted from, and table of all app data. */
  readonly storage: Storage;

  /** Layer with the native packages and built models, for predictions served in-process. */
  readonly runtimeLayer: RuntimeLayer;

  /**
   * Memory of the API function in MB. Predictions run in the request.
   * @default 3008
   */
  readonly memorySize?: number;

  /**
   * Maximum run time of one request. API Gateway ends HTTP API integrations after 30 s anyway.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;

  /**
   * CORS preflight settings, for browser clients on other origins.
   * @default - no CORS configuration, so browsers reject cross-origin requests
   */
  readonly corsPreflight?: CorsPreflightOptions;

  /**
   * How long the log groups of the functions and the access log keep their events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The Clarifai v2 compatible HTTP API. Every route goes to one API function and requires
 * the Lambda authorizer, which checks the `Authorization: Key <api key>` header against the
 * table. The `$default` stage writes a JSON access log.
 */
export class PerceptHttpApi extends Construct {
  /** Serves all routes. */
  public readonly apiFunction: PerceptFunction;

  /** Checks the API key of each request, with simple (boolean) responses. */
  public readonly authorizerFunction: PerceptFunction;

  /** Authorizer attached to every route. */
  public readonly authorizer: HttpLambdaAuthorizer;

  /** The HTTP API. */
  public readonly httpApi: HttpApi;

  /** The auto-deployed `$default` stage. */
  public readonly stage: HttpStage;

  /** Access log of the stage. */
  public readonly accessLogGroup: LogGroup;

  /** Base URL of the API, ending in `/`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: PerceptHttpApiProps) {
    super(scope, id);

    const { bucket, table, uploadsPrefix } = props.storage;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.apiFunction = new PerceptFunction(this, 'ApiFunction', {
      entry: 'api/handler.ts',
      description: 'Serves the Clarifai v2 compatible routes and runs predictions.',
      memorySize: props.memorySize ?? 3008,
      timeout: props.timeout ?? Duration.seconds(30),
      logRetention,
    })
      .useTable(table, 'readWrite')
      .useBucket(bucket, 'readWrite', [uploadsPrefix, props.storage.modelsPrefix])
      .useRuntimeLayer(props.runtimeLayer);
    this.apiFunction.addEnvironment('UPLOADS_PREFIX', uploadsPrefix);

    this.authorizerFunction = new PerceptFunction(this, 'AuthorizerFunction', {
      entry: 'authorizer/handler.ts',
      description: 'Allows requests whose Authorization header contains a known API key.',
      logRetention,
    }).useTable(table, 'read');

    // The authorizer runs on every request, with no identity source and no cache: API
    // Gateway rejects a request that lacks an identity source with its own 401 body, which
    // Clarifai clients cannot read. The authorizer passes its verdict in the context
    // instead, and the API function answers 401 in Clarifai's shape.
    this.authorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', this.authorizerFunction, {
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: [],
      resultsCacheTtl: Duration.seconds(0),
    });

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Percept: Clarifai v2 compatible computer-vision API',
      createDefaultStage: false,
      defaultAuthorizer: this.authorizer,
      corsPreflight: props.corsPreflight,
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogGroup', { retention: logRetention });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogGroup) },
    });
    this.url = this.stage.url;

    const integration = new HttpLambdaIntegration('ApiIntegration', this.apiFunction);
    for (const route of API_ROUTES) {
      this.httpApi.addRoutes({ path: route.path, methods: [route.method], integration });
    }
    // Any other request also reaches the API function, which returns 404 in Clarifai's shape.
    new HttpRoute(this, 'CatchAllRoute', {
      httpApi: this.httpApi,
      routeKey: HttpRouteKey.DEFAULT,
      integration,
      authorizer: this.authorizer,
    });
  }
}
