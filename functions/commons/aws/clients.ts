/**
 * AWS SDK clients, created once per container. Endpoints come from the SDK's own
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, which the local stack points at dynalite,
 * s3rver, the local Step Functions endpoint and the local S3 Vectors endpoint. On AWS they
 * are unset.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '#commons/config.ts';

let s3: S3Client | undefined;
let documents: DynamoDBDocumentClient | undefined;
let stepFunctions: SFNClient | undefined;
let s3Vectors: S3VectorsClient | undefined;

export function s3Client(): S3Client {
  s3 ??= new S3Client({
    forcePathStyle: config.s3ForcePathStyle,
    // Without these, SDK v3 adds flexible checksums to streamed uploads, which s3rver
    // stores as part of the body. S3 itself accepts either setting.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return s3;
}

export function documentClient(): DynamoDBDocumentClient {
  documents ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documents;
}

export function stepFunctionsClient(): SFNClient {
  stepFunctions ??= new SFNClient({});
  return stepFunctions;
}

/** Amazon S3 Vectors. Its service id is `S3Vectors`, so the endpoint variable is `AWS_ENDPOINT_URL_S3VECTORS`. */
export function s3VectorsClient(): S3VectorsClient {
  s3Vectors ??= new S3VectorsClient({});
  return s3Vectors;
}
