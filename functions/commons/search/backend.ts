/**
 * Where an app's image vectors are kept and searched. The search routes and the indexing
 * step talk only to this interface; `SEARCH_BACKEND` chooses the implementation: the
 * cluster index in DynamoDB and S3 (`ivf`, the default) or Amazon S3 Vectors (`s3-vectors`).
 */

/** One input's vector, L2-normalized, so that the dot product of two vectors is their cosine similarity. */
export interface VectorEntry {
  inputId: string;
  vector: Float32Array;
}

export interface VectorSearchRequest {
  appId: string;
  /** The query vector, L2-normalized and of the index's dimension. */
  vector: Float32Array;
  /** How many hits to return at most. */
  topK: number;
  /**
   * Keeps only the inputs it returns true for. A backend that can filter during its scan does
   * so; one that cannot requests more candidates and filters them afterwards. Backends call it
   * for a batch of candidates at once and await the results together, so an implementation
   * that reads records can read each batch in one request (`CandidateFilter.isAllowed`).
   */
  allow?: (inputId: string) => boolean | Promise<boolean>;
}

export interface VectorSearchHit {
  inputId: string;
  /** Cosine similarity with the query, in [-1, 1]; hits come best first. */
  score: number;
}

export interface VectorBackend {
  readonly name: 'ivf' | 's3-vectors';
  /** Adds or replaces the vectors of these inputs; safe to call concurrently from many functions. */
  upsert(appId: string, entries: readonly VectorEntry[]): Promise<void>;
  /** Removes the vectors of these inputs; ids without a vector are ignored. */
  remove(appId: string, inputIds: readonly string[]): Promise<void>;
  search(request: VectorSearchRequest): Promise<VectorSearchHit[]>;
}
