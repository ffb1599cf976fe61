/**
 * Key layout of the single DynamoDB table. Every item has a string partition key `pk`
 * and sort key `sk`; an app's items share `pk = APP#<app_id>` so one Query lists them.
 *
 * | item                    | pk                        | sk                                 |
 * | ----------------------- | ------------------------- | ---------------------------------- |
 * | input                   | APP#<app_id>              | INPUT#<input_id>                   |
 * | annotation              | APP#<app_id>              | ANNOTATION#<input_id>#<annotation> |
 * | app settings            | APP#<app_id>              | SETTINGS                           |
 * | model (app's own)       | APP#<app_id>              | MODEL#<model_id>                   |
 * | trained model version   | APP#<app_id>              | MODELVERSION#<model_id>#<version>  |
 * | workflow                | APP#<app_id>              | WORKFLOW#<workflow_id>             |
 * | concept                 | APP#<app_id>              | CONCEPT#<concept_id>               |
 * | concept relation        | APP#<app_id>              | CONCEPTREL#<concept_id>#<relation> |
 * | API key (hashed)        | APIKEY#<sha256 of key>    | APIKEY                             |
 * | processed S3 object     | OBJECT#<bucket>/<key>     | VERSION#<version id or etag>       |
 *
 * Ids must not contain `#`, which the validators in `ids.ts` enforce. Concept ids are the
 * exception: they may hold any Unicode text, so `conceptKeyPart` escapes `%` and `#` before a
 * concept id goes into a sort key. A relation is stored twice, once under each of its concepts.
 */

export const appPk = (appId: string): string => `APP#${appId}`;
export const inputSk = (inputId: string): string => `INPUT#${inputId}`;
export const INPUT_SK_PREFIX = 'INPUT#';
export const annotationSk = (inputId: string, annotationId: string): string =>
  `ANNOTATION#${inputId}#${annotationId}`;
export const annotationSkPrefix = (inputId: string): string => `ANNOTATION#${inputId}#`;
export const apiKeyPk = (keyHash: string): string => `APIKEY#${keyHash}`;
export const API_KEY_SK = 'APIKEY';
export const objectPk = (bucket: string, key: string): string => `OBJECT#${bucket}/${key}`;
export const objectVersionSk = (version: string): string => `VERSION#${version}`;
export const APP_SETTINGS_SK = 'SETTINGS';
export const modelSk = (modelId: string): string => `MODEL#${modelId}`;
export const MODEL_SK_PREFIX = 'MODEL#';
export const workflowSk = (workflowId: string): string => `WORKFLOW#${workflowId}`;
export const WORKFLOW_SK_PREFIX = 'WORKFLOW#';

/**
 * Escapes a concept id for use inside a sort key: `%` becomes `%25` and `#` becomes `%23`, so
 * the key contains no `#` other than the separators, and `CONCEPT#a` never prefixes the keys of `a#b`.
 */
export const conceptKeyPart = (conceptId: string): string => conceptId.replaceAll('%', '%25').replaceAll('#', '%23');
export const conceptSk = (conceptId: string): string => `CONCEPT#${conceptKeyPart(conceptId)}`;
export const CONCEPT_SK_PREFIX = 'CONCEPT#';
export const conceptRelationSk = (conceptId: string, relationId: string): string =>
  `CONCEPTREL#${conceptKeyPart(conceptId)}#${relationId}`;
export const conceptRelationSkPrefix = (conceptId: string): string => `CONCEPTREL#${conceptKeyPart(conceptId)}#`;
/** Not under `MODEL#`, so that listing an app's models does not return their versions. */
export const modelVersionSk = (modelId: string, versionId: string): string => `MODELVERSION#${modelId}#${versionId}`;
export const modelVersionSkPrefix = (modelId: string): string => `MODELVERSION#${modelId}#`;
