/**
 * Loads the inputs (and, when filters need them, the annotations) of search candidates and
 * keeps those that pass every filter. Candidates whose input no longer exists are dropped.
 */
import { type FilterSubject, filtersNeedAnnotations, passesFilters } from '#commons/search/filters.ts';
import { batchGetItems } from '#commons/search/dynamo-batch.ts';
import type { SearchFilter } from '#commons/search/query-types.ts';
import { type AnnotationRecord, listAnnotations } from '#commons/storage/annotations.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';
import { appPk, inputSk } from '#commons/storage/keys.ts';

// The number of annotation queries that run at the same time.
const ANNOTATION_CONCURRENCY = 16;

export function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as T;
}

/** Runs `work` on each item, at most `limit` at a time, and returns the results in order. */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

interface PendingCheck {
  inputId: string;
  resolve: (allowed: boolean) => void;
  reject: (error: unknown) => void;
}

export class CandidateFilter {
  private readonly inputs = new Map<string, InputRecord | undefined>();
  private readonly annotations = new Map<string, AnnotationRecord[]>();
  private readonly needsAnnotations: boolean;
  private pending: PendingCheck[] = [];

  public constructor(
    private readonly appId: string,
    private readonly filters: readonly SearchFilter[],
  ) {
    this.needsAnnotations = filtersNeedAnnotations(filters);
  }

  public get hasFilters(): boolean {
    return this.filters.length > 0;
  }

  /** The ids of candidates whose input was not found. The caller may remove them from the index. */
  public get missingInputIds(): string[] {
    return [...this.inputs].filter(([, input]) => input === undefined).map(([inputId]) => inputId);
  }

  /** Returns the inputs among `inputIds` that exist and pass every filter, by id. */
  public async select(inputIds: readonly string[]): Promise<Map<string, InputRecord>> {
    const unread = [...new Set(inputIds)].filter((inputId) => !this.inputs.has(inputId));
    if (unread.length > 0) {
      const items = await batchGetItems(unread.map((inputId) => ({ pk: appPk(this.appId), sk: inputSk(inputId) })));
      const found = new Map(items.map((item) => [item.id as string, stripKeys<InputRecord>(item)]));
      for (const inputId of unread) {
        this.inputs.set(inputId, found.get(inputId));
      }
    }
    return this.check(inputIds.flatMap((inputId) => {
      const input = this.inputs.get(inputId);
      return input === undefined ? [] : [input];
    }));
  }

  /**
   * Resolves to true when the input exists and passes every filter, as the `allow` of a vector search.
   * Calls made before the next microtask are resolved together by one `select`, so a backend
   * that checks a batch of candidates at once costs one BatchGetItem per 100 of them.
   */
  public isAllowed(inputId: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ inputId, resolve, reject });
      if (this.pending.length === 1) {
        queueMicrotask(() => void this.resolvePending());
      }
    });
  }

  private async resolvePending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const passedInputs = await this.select(batch.map((check) => check.inputId));
      for (const check of batch) {
        check.resolve(passedInputs.has(check.inputId));
      }
    } catch (error) {
      for (const check of batch) {
        check.reject(error);
      }
    }
  }

  /** Returns the given inputs that pass every filter, by id. */
  public async check(inputs: readonly InputRecord[]): Promise<Map<string, InputRecord>> {
    for (const input of inputs) {
      this.inputs.set(input.id, input);
    }
    if (this.needsAnnotations) {
      await this.loadAnnotations(inputs.map((input) => input.id));
    }
    const passedInputs = new Map<string, InputRecord>();
    for (const input of inputs) {
      const subject: FilterSubject = { input, annotations: this.annotations.get(input.id) ?? [] };
      if (passesFilters(this.filters, subject)) {
        passedInputs.set(input.id, input);
      }
    }
    return passedInputs;
  }

  /** Returns the annotations of an input, reading them once. */
  public async annotationsOf(inputId: string): Promise<AnnotationRecord[]> {
    await this.loadAnnotations([inputId]);
    return this.annotations.get(inputId) ?? [];
  }

  private async loadAnnotations(inputIds: readonly string[]): Promise<void> {
    const unread = [...new Set(inputIds)].filter((inputId) => !this.annotations.has(inputId));
    const lists = await mapConcurrently(unread, ANNOTATION_CONCURRENCY, (inputId) => listAnnotations(this.appId, inputId));
    unread.forEach((inputId, index) => this.annotations.set(inputId, lists[index] ?? []));
  }
}
