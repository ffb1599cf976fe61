/**
 * Clarifai v2 REST shapes that Percept reads and writes. Field names are snake_case
 * because that is what Clarifai's JSON API and its clients use.
 */

export interface Status {
  code: number;
  description: string;
  details?: string;
  /** Percept's stable error code, present on failures. */
  error_code?: string;
  req_id?: string;
}

export interface Concept {
  id: string;
  name: string;
  value: number;
  app_id?: string;
}

export interface BoundingBox {
  top_row: number;
  left_col: number;
  bottom_row: number;
  right_col: number;
}

export interface Region {
  id: string;
  region_info: { bounding_box: BoundingBox };
  value?: number;
  data: { concepts: Concept[] };
}

export interface Embedding {
  vector: number[];
  num_dimensions: number;
}

/** The output of a model for one input: concepts, regions or embeddings. */
export interface OutputData {
  concepts?: Concept[];
  regions?: Region[];
  embeddings?: Embedding[];
}

export type ModelTypeId = 'visual-classifier' | 'visual-detector' | 'visual-embedder';

export interface OutputConfig {
  max_concepts?: number;
  min_value?: number;
  select_concepts?: Array<{ id?: string; name?: string }>;
}
