/**
 * Typed readers of GraphDef node attributes in their proto3 JSON form: int64 values arrive as
 * strings, `s` values as base64, and an empty list as `{ "list": {} }`.
 */
import type { TfAttrValue, TfNode, TfShapeJson } from './model.ts';

export class NodeAttributes {
  private readonly attributes: Record<string, TfAttrValue>;

  public constructor(node: TfNode) {
    this.attributes = node.attr ?? {};
  }

  public has(name: string): boolean {
    return this.attributes[name] !== undefined;
  }

  public int(name: string, fallback: number): number {
    const value = this.attributes[name]?.i;
    return value === undefined ? fallback : Number(value);
  }

  public float(name: string, fallback: number): number {
    const value = this.attributes[name]?.f;
    return value === undefined ? fallback : Number(value);
  }

  public bool(name: string, fallback: boolean): boolean {
    return this.attributes[name]?.b ?? fallback;
  }

  public string(name: string, fallback: string): string {
    const value = this.attributes[name]?.s;
    return value === undefined ? fallback : Buffer.from(value, 'base64').toString('utf8');
  }

  public type(name: string): string | undefined {
    return this.attributes[name]?.type;
  }

  public ints(name: string, fallback: number[]): number[] {
    const list = this.attributes[name]?.list;
    if (list === undefined) {
      return fallback;
    }
    return (list.i ?? []).map(Number);
  }

  public strings(name: string): string[] {
    const list = this.attributes[name]?.list;
    return (list?.s ?? []).map((value) => Buffer.from(value, 'base64').toString('utf8'));
  }

  public shape(name: string): TfShapeJson | undefined {
    return this.attributes[name]?.shape;
  }
}

/** Returns the dims of a TF shape, -1 for an unknown dim, or undefined for an unknown rank. */
export function dimsOf(shape: TfShapeJson | undefined): number[] | undefined {
  if (shape === undefined || shape.unknownRank === true) {
    return undefined;
  }
  return (shape.dim ?? []).map((dim) => (dim.size === undefined ? -1 : Number(dim.size)));
}

/** Splits a GraphDef input reference (`node`, `node:2`, `^node` for a control input). */
export function parseInputName(input: string): { node: string; index: number; control: boolean } {
  if (input.startsWith('^')) {
    return { node: input.slice(1), index: 0, control: true };
  }
  const match = /^(.*):(\d+)$/.exec(input);
  if (match === null) {
    return { node: input, index: 0, control: false };
  }
  return { node: match[1]!, index: Number(match[2]), control: false };
}
