/**
 * Reading and checking the parameters stored with an operator model. Every check throws
 * `INVALID_MODEL_PARAMETER` with the field as `POST /v2/models` names it
 * (`output_info.output_config.model_metadata.keep_fraction`), the value received and what
 * to send instead.
 */
import type { Concept } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';

export const INVALID_MODEL_PARAMETER = 'INVALID_MODEL_PARAMETER';

const METADATA_PATH = 'output_info.output_config.model_metadata';
const CONCEPTS_PATH = 'output_info.data.concepts';

/** Formats a received value for an error message, cutting it after 80 characters. */
export function describeValue(value: unknown): string {
  if (value === undefined) {
    return 'missing';
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function metadataField(key: string): string {
  return `${METADATA_PATH}.${key}`;
}

export function conceptField(index: number, key?: string): string {
  return key === undefined ? `${CONCEPTS_PATH}[${index}]` : `${CONCEPTS_PATH}[${index}].${key}`;
}

/** Returns the error of a failed parameter check: `field` is the full path, `fix` what to send instead. */
export function invalidParameter(typeId: string, field: string, value: unknown, fix: string): InvalidInputError {
  return new InvalidInputError(
    INVALID_MODEL_PARAMETER,
    `Invalid ${typeId} parameter ${field}: got ${describeValue(value)}. ${fix}`,
    StatusCode.MODEL_INVALID_ARGUMENT,
  );
}

interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** Rule for the `value` of each concept that `conceptList` reads. */
export interface ConceptValueRule {
  use: 'required' | 'optional' | 'ignored';
  /** Meaning of the value, for the error message. */
  meaning: string;
}

/** A concept from `output_info.data.concepts`, with its position for error messages. */
export interface ConceptParam {
  id: string;
  name: string;
  value: number;
  index: number;
}

/**
 * Reads the parameters of one operator model. Each getter checks one `model_metadata` key.
 * `rejectUnknownKeys` then fails on any key that no getter read, so a misspelt parameter is
 * reported instead of silently falling back to its default.
 */
export class ParamReader {
  private readonly metadata: Record<string, unknown>;
  private readonly concepts: readonly unknown[];
  private readonly readKeys = new Set<string>();
  private conceptsRead = false;

  public constructor(
    public readonly typeId: string,
    raw: RawModelParams | undefined,
  ) {
    const metadata: unknown = raw?.model_metadata ?? {};
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw invalidParameter(typeId, METADATA_PATH, metadata, 'Send a JSON object of parameter names and values.');
    }
    const concepts: unknown = raw?.concepts ?? [];
    if (!Array.isArray(concepts)) {
      throw invalidParameter(typeId, CONCEPTS_PATH, concepts, 'Send a list of concepts, e.g. [{"id": "text", "value": 0.9}].');
    }
    this.metadata = metadata as Record<string, unknown>;
    this.concepts = concepts;
  }

  public error(key: string, value: unknown, fix: string): InvalidInputError {
    return invalidParameter(this.typeId, metadataField(key), value, fix);
  }

  /** Returns an error about the whole `output_info.data.concepts` list. */
  public conceptsError(fix: string): InvalidInputError {
    return invalidParameter(this.typeId, CONCEPTS_PATH, this.concepts, fix);
  }

  /** Returns the raw value of `key` (undefined when absent or null) and marks the key as read. */
  public raw(key: string): unknown {
    this.readKeys.add(key);
    const value = this.metadata[key];
    return value === null ? undefined : value;
  }

  public number(key: string, fallback: number | undefined, rule: NumberRule, meaning: string): number {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) {
      return fallback;
    }
    const inRange =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (rule.integer !== true || Number.isInteger(value)) &&
      (rule.min === undefined || value >= rule.min) &&
      (rule.max === undefined || value <= rule.max);
    if (!inRange) {
      throw this.error(key, value, `Set it to ${describeRule(rule)}: ${meaning}.`);
    }
    return value;
  }

  public boolean(key: string, fallback: boolean, meaning: string): boolean {
    const value = this.raw(key);
    if (value === undefined) {
      return fallback;
    }
    if (typeof value !== 'boolean') {
      throw this.error(key, value, `Set it to true or false: ${meaning}.`);
    }
    return value;
  }

  public string(key: string, fallback: string | undefined, pattern: RegExp, meaning: string): string {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) {
      return fallback;
    }
    if (typeof value !== 'string' || !pattern.test(value)) {
      throw this.error(key, value, `Set it to ${meaning}.`);
    }
    return value;
  }

  /**
   * Reads an enum given by name or by its Clarifai number, as the Clarifai clients send
   * protobuf enums in JSON either way. Returns the name.
   */
  public enumValue<Name extends string>(
    key: string,
    fallback: Name,
    values: Readonly<Record<Name, number>>,
    aliases: Readonly<Record<number, Name>> = {},
  ): Name {
    const value = this.raw(key);
    if (value === undefined) {
      return fallback;
    }
    const entries = Object.entries(values) as Array<[Name, number]>;
    const byName = entries.find(([name]) => name === value);
    const byNumber = entries.find(([, number]) => number === value);
    const alias = typeof value === 'number' ? aliases[value] : undefined;
    const found = byName?.[0] ?? byNumber?.[0] ?? alias;
    if (found === undefined) {
      const choices = entries.map(([name, number]) => `${name} (${number})`).join(', ');
      throw this.error(key, value, `Use one of ${choices}.`);
    }
    return found;
  }

  /** Reads a string parameter that must be one of `choices`. */
  public choice<Choice extends string>(key: string, fallback: Choice, choices: readonly Choice[], meaning: string): Choice {
    const value = this.raw(key);
    if (value === undefined) {
      return fallback;
    }
    const found = choices.find((choice) => choice === value);
    if (found === undefined) {
      throw this.error(key, value, `Use one of ${choices.join(', ')}: ${meaning}.`);
    }
    return found;
  }

  /** Reads a JSON object parameter whose values are checked by the caller. */
  public object(key: string, meaning: string): Record<string, unknown> | undefined {
    const value = this.raw(key);
    if (value === undefined) {
      return undefined;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw this.error(key, value, `Send a JSON object: ${meaning}.`);
    }
    return value as Record<string, unknown>;
  }

  /**
   * Reads `output_info.data.concepts`. Each concept needs an `id` (or a `name`, used as the
   * id). `value` must lie from 0 to 1 when required, or when optional and present. An
   * absent optional value, and an ignored one, reads as 0.
   */
  public conceptList(value: ConceptValueRule): ConceptParam[] {
    this.conceptsRead = true;
    const seen = new Set<string>();
    return this.concepts.map((entry, index) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw invalidParameter(this.typeId, conceptField(index), entry, 'Send a concept object, e.g. {"id": "text", "value": 0.9}.');
      }
      const concept = entry as Partial<Concept>;
      const id = concept.id !== undefined && concept.id !== '' ? concept.id : concept.name;
      if (typeof id !== 'string' || id === '') {
        throw invalidParameter(this.typeId, conceptField(index, 'id'), concept.id, 'Give the concept id (or its name) as a non-empty string.');
      }
      if (seen.has(id)) {
        throw invalidParameter(this.typeId, conceptField(index, 'id'), id, 'List each concept once.');
      }
      seen.add(id);
      const name = typeof concept.name === 'string' && concept.name !== '' ? concept.name : id;
      if (value.use === 'ignored' || (value.use === 'optional' && concept.value === undefined)) {
        return { id, name, value: 0, index };
      }
      if (!(typeof concept.value === 'number' && concept.value >= 0 && concept.value <= 1)) {
        throw invalidParameter(
          this.typeId,
          conceptField(index, 'value'),
          concept.value,
          `Set it to a number from 0 to 1: ${value.meaning}.`,
        );
      }
      return { id, name, value: concept.value, index };
    });
  }

  /** Throws for any `model_metadata` key that no getter read, and for concepts that no getter reads. */
  public rejectUnknownKeys(): void {
    if (!this.conceptsRead && this.concepts.length > 0) {
      throw this.conceptsError(`${this.typeId} takes no concepts. Leave output_info.data.concepts empty.`);
    }
    const unknown = Object.keys(this.metadata).filter((key) => !this.readKeys.has(key));
    const [first] = unknown;
    if (first !== undefined) {
      const known = [...this.readKeys].sort().join(', ');
      throw this.error(first, this.metadata[first], `${this.typeId} has no parameter "${first}". Its parameters are: ${known}.`);
    }
  }
}

function describeRule(rule: NumberRule): string {
  const kind = rule.integer === true ? 'a whole number' : 'a number';
  if (rule.min !== undefined && rule.max !== undefined) {
    return `${kind} from ${rule.min} to ${rule.max}`;
  }
  if (rule.min !== undefined) {
    return `${kind} of at least ${rule.min}`;
  }
  if (rule.max !== undefined) {
    return `${kind} of at most ${rule.max}`;
  }
  return kind;
}
