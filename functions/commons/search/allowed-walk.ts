/**
 * Checks candidates with a search's `allow` filter in the order of their scores, in batches,
 * and caches every decision. A search that widens its scan walks a longer list of candidates
 * again and pays only for those not checked before.
 */
import type { VectorSearchRequest } from '#commons/search/backend.ts';

type Allow = NonNullable<VectorSearchRequest['allow']>;

/** The minimum number of candidates checked per batch, so that a filter that keeps most inputs costs one round trip. */
const MIN_BATCH = 32;

/** The maximum number of candidates checked per batch, because the search filter reads one input record per candidate. */
const MAX_BATCH = 1000;

/** The factor by which a batch exceeds the size that the share kept so far predicts, so that one batch usually suffices. */
const BATCH_MARGIN = 1.25;

export class AllowedWalk {
  private readonly decisions = new Map<string, boolean>();
  private keptCount = 0;

  /** Creates a walk that checks at most `maxChecks` candidates. Candidates after those count as not kept. */
  public constructor(
    private readonly allow: Allow,
    private readonly maxChecks: number,
  ) {}

  /** The number of candidates checked so far. */
  public get checked(): number {
    return this.decisions.size;
  }

  /** True once the walk reached `maxChecks`, so that candidates not checked yet are skipped. */
  public get exhausted(): boolean {
    return this.decisions.size >= this.maxChecks;
  }

  /** The share of the checked candidates that the filter kept, or 1 before the first check. */
  public get keptShare(): number {
    return this.decisions.size === 0 ? 1 : this.keptCount / this.decisions.size;
  }

  /**
   * Returns the first `count` ids of `orderedIds` (best first) that the filter keeps, in that
   * order and each once. Ids not checked yet are checked in batches from the walk's position.
   */
  public async firstAllowed(orderedIds: readonly string[], count: number): Promise<string[]> {
    const allowedIds: string[] = [];
    const seen = new Set<string>();
    let position = 0;
    while (position < orderedIds.length && allowedIds.length < count) {
      const inputId = orderedIds[position] as string;
      const decision = this.decisions.get(inputId);
      if (decision === undefined && !this.exhausted) {
        await this.checkBatch(orderedIds, position, count - allowedIds.length);
        continue;
      }
      if (decision === true && !seen.has(inputId)) {
        seen.add(inputId);
        allowedIds.push(inputId);
      }
      position += 1;
    }
    return allowedIds;
  }

  /**
   * Checks the next unchecked ids from `start`. The batch size is the number that the share kept
   * so far predicts for `missing` more kept ids.
   */
  private async checkBatch(orderedIds: readonly string[], start: number, missing: number): Promise<void> {
    const predicted = Math.ceil((missing / Math.max(this.keptShare, 1 / MAX_BATCH)) * BATCH_MARGIN);
    const size = Math.min(MAX_BATCH, Math.max(MIN_BATCH, predicted), this.maxChecks - this.decisions.size);
    const batch = new Set<string>();
    for (let position = start; position < orderedIds.length && batch.size < size; position += 1) {
      const inputId = orderedIds[position] as string;
      if (!this.decisions.has(inputId)) {
        batch.add(inputId);
      }
    }

    const inputIds = [...batch];
    const results = await Promise.all(inputIds.map((inputId) => this.allow(inputId)));
    inputIds.forEach((inputId, index) => {
      const allowed = results[index] === true;
      this.decisions.set(inputId, allowed);
      this.keptCount += allowed ? 1 : 0;
    });
  }
}
