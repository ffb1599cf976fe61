/**
 * Reads `metadata_props` of an ONNX model without a protobuf library: walks the top-level fields
 * of the `ModelProto` message and decodes only field 14 (`StringStringEntryProto` key/value
 * pairs). The model build step stores the source checksums of a converted model there, and
 * this reader lets it check them where the converter is not installed (a Lambda layer).
 */

const METADATA_PROPS_FIELD = 14;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

class Reader {
  public offset: number;

  public constructor(
    private readonly bytes: Uint8Array,
    start: number,
    public readonly end: number,
  ) {
    this.offset = start;
  }

  public varint(): number {
    let value = 0;
    let multiplier = 1;
    for (let count = 0; count < 10; count++) {
      if (this.offset >= this.end) {
        throw new RangeError('truncated varint');
      }
      const byte = this.bytes[this.offset++]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        return value;
      }
      multiplier *= 128;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** Skips the value of a field of `wireType`, or returns its [start, end) for a length-delimited one. */
  public value(wireType: number): [number, number] {
    const start = this.offset;
    if (wireType === WIRE_VARINT) {
      this.varint();
    } else if (wireType === WIRE_FIXED64) {
      this.offset += 8;
    } else if (wireType === WIRE_FIXED32) {
      this.offset += 4;
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = this.varint();
      const valueStart = this.offset;
      this.offset += length;
      if (this.offset > this.end) {
        throw new RangeError('field runs past the end');
      }
      return [valueStart, this.offset];
    } else {
      throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.offset > this.end) {
      throw new RangeError('field runs past the end');
    }
    return [start, this.offset];
  }
}

/**
 * Returns the `metadata_props` of a serialized ONNX `ModelProto` as an object, or undefined
 * when the bytes are not a well-formed protobuf message.
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> | undefined {
  const decoder = new TextDecoder();
  const metadata: Record<string, string> = {};
  try {
    const model = new Reader(bytes, 0, bytes.length);
    while (model.offset < model.end) {
      const tag = model.varint();
      const [start, end] = model.value(tag % 8);
      if (Math.floor(tag / 8) !== METADATA_PROPS_FIELD || tag % 8 !== WIRE_LENGTH_DELIMITED) {
        continue;
      }
      const entry = new Reader(bytes, start, end);
      let key = '';
      let value = '';
      while (entry.offset < entry.end) {
        const entryTag = entry.varint();
        const [fieldStart, fieldEnd] = entry.value(entryTag % 8);
        const text = decoder.decode(bytes.subarray(fieldStart, fieldEnd));
        if (entryTag === 10) {
          key = text;
        } else if (entryTag === 18) {
          value = text;
        }
      }
      metadata[key] = value;
    }
  } catch (error) {
    if (error instanceof RangeError) {
      return undefined;
    }
    throw error;
  }
  return metadata;
}
