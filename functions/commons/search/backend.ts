/**
 * The store that keeps and searches an app's image vectors. The search routes and the indexing
 * step use only this interface. `SEARCH_BACKEND` chooses the implementation: the cluster index
 * in DynamoDB and S3 (`ivf`, the default) or Amazon S3 Vectors (`s3-vectors`).
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
  /** The maximum number of hits to return. */
  topK: number;
  /**
   * Keeps only the inputs it returns true for. A backend that can filter during its scan does
   * so, and one that cannot requests more candidates and filters them afterwards. Backends call it
   * for a batch of candidates at once and await the results together, so an implementation
   * that reads records can read each batch in one request (`CandidateFilter.isAllowed`).
   */
  allow?: (inputId: string) => boolean | Promise<boolean>;
}

export interface VectorSearchHit {
  inputId: string;
  /** Cosine similarity with the query, in [-1, 1]. Hits come best first. */
  score: number;
}

export interface VectorBackend {
  readonly name: 'ivf' | 's3-vectors';
  /** Adds or replaces the vectors of these inputs. It is safe to call concurrently from many functions. */
  upsert(appId: string, entries: readonly VectorEntry[]): Promise<void>;
  /** Removes the vectors of these inputs, ignoring ids without a vector. */
  remove(appId: string, inputIds: readonly string[]): Promise<void>;
  search(request: VectorSearchRequest): Promise<VectorSearchHit[]>;
}
