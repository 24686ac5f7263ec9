// Protobuf messages made comparable as JSON values: without a schema, from the wire format alone
// (fields by number, as `protoc --decode_raw` shows them), or with one (--proto: protobufjs
// types found from a gRPC method's path, fields by name). Every decode is bounded in depth and
// work; bytes that are no message give null (schema-less) or an error thrown by protobufjs
// (typed: ./grpc.ts then falls back to schema-less).
import { isUtf8 } from 'node:buffer';
import * as protobuf from 'protobufjs';

/** A decoded message: field number (schema-less) or name → value; repeated fields as arrays. */
export type ProtoValue = number | string | boolean | null | ProtoObject | ProtoValue[];
export interface ProtoObject { [field: string]: ProtoValue }

/** Nested messages deeper than this are shown as bytes. */
export const WIRE_MAX_DEPTH = 32;
/** Bytes scanned per byte of input (nested messages are tried level by level) before the rest of
 * the length-delimited fields are shown as strings or bytes, untried. */
const WORK_PER_BYTE = 8;
const WORK_FLOOR = 64 << 10;

const WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5;
const MAX_FIELD_NUMBER = 0x1fffffff;

/** What a schema-less decode had to leave undone. */
export interface WireStats {
  /** Length-delimited fields not tried as messages: too deep, or the work budget spent. */
  limited: number;
}

class WireReader {
  pos = 0;
  /** The last varint read, when it fits a double exactly; else -1 and `big` holds it. */
  num = 0;
  big: string | null = null;
  work = 0;
  readonly stats: WireStats = { limited: 0 };

  constructor(readonly buf: Uint8Array, readonly maxDepth: number, readonly maxWork: number) {}

  /** Reads a varint ending before `end`; false when it is truncated or beyond 64 bits. */
  varint(end: number): boolean {
    const buf = this.buf;
    let value = 0, scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) return false;
      const b = buf[this.pos++]!;
      if (i === 9 && b > 1) return false; // more than 64 bits
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value <= Number.MAX_SAFE_INTEGER) {
          this.num = value;
          this.big = null;
        } else {
          this.num = -1;
          this.big = this.exactVarint(this.pos - i - 1, i + 1);
        }
        return true;
      }
      scale *= 128;
    }
    return false; // an 11th byte
  }

  private exactVarint(start: number, n: number): string {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 7n) | BigInt(this.buf[start + i]! & 0x7f);
    return v.toString();
  }

  /** Fixed-width little-endian value as hex ('0x' + the bytes most significant first). */
  fixed(width: number): string {
    let s = '0x';
    for (let i = width - 1; i >= 0; i--) s += HEX[this.buf[this.pos + i]!];
    this.pos += width;
    return s;
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Valid UTF-8 with no control characters but tab, LF, CR: text a person wrote. */
function isPrintableText(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return false;
  }
  return isUtf8(buf.subarray(start, end));
}

function addField(obj: ProtoObject, key: string, value: ProtoValue): void {
  const had = obj[key];
  if (had === undefined) obj[key] = value;
  else if (Array.isArray(had)) had.push(value);
  else obj[key] = [had, value];
}

/** The fields between the reader's position and `end`, or null when they are not a message. */
function readMessage(r: WireReader, end: number, depth: number): ProtoObject | null {
  const obj: ProtoObject = {};
  r.work += end - r.pos;
  while (r.pos < end) {
    if (!r.varint(end) || r.num < 0) return null;
    const field = Math.floor(r.num / 8), wire = r.num % 8;
    if (field < 1 || field > MAX_FIELD_NUMBER) return null;
    const key = String(field);
    switch (wire) {
      case WIRE_VARINT:
        if (!r.varint(end)) return null;
        addField(obj, key, r.big ?? r.num);
        break;
      case WIRE_I64:
        if (end - r.pos < 8) return null;
        addField(obj, key, r.fixed(8));
        break;
      case WIRE_I32:
        if (end - r.pos < 4) return null;
        addField(obj, key, r.fixed(4));
        break;
      case WIRE_LEN: {
        if (!r.varint(end) || r.num < 0 || r.num > end - r.pos) return null;
        const start = r.pos, stop = start + r.num;
        addField(obj, key, readLengthDelimited(r, start, stop, depth));
        r.pos = stop;
        break;
      }
      default: // groups (3, 4) and the unused wire types 6, 7
        return null;
    }
  }
  return obj;
}

/** Printable text as a string; else a nested message when the bytes parse as one; else a string
 * when valid UTF-8; else base64. */
function readLengthDelimited(r: WireReader, start: number, stop: number, depth: number): ProtoValue {
  if (start === stop) return '';
  const buf = r.buf;
  r.work += stop - start;
  if (isPrintableText(buf, start, stop)) return Buffer.from(buf.buffer, buf.byteOffset + start, stop - start).toString('utf8');
  if (depth + 1 < r.maxDepth && r.work < r.maxWork) {
    r.pos = start;
    const nested = readMessage(r, stop, depth + 1);
    if (nested !== null) return nested;
  } else r.stats.limited++;
  const bytes = Buffer.from(buf.buffer, buf.byteOffset + start, stop - start);
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('base64');
}

/**
 * A protobuf message read without its schema: fields by number with wire type (varint as an
 * unsigned number — a decimal string beyond 2^53 —, i64 and i32 as hex, length-delimited as text,
 * nested message or base64 bytes); a field seen more than once becomes an array. Null when the
 * bytes are not a message (truncated, a group, a bad wire type or field number, a varint over
 * 64 bits).
 */
export function decodeWire(buf: Uint8Array, stats?: WireStats, maxDepth = WIRE_MAX_DEPTH): ProtoObject | null {
  const r = new WireReader(buf, maxDepth, WORK_FLOOR + WORK_PER_BYTE * buf.length);
  const out = readMessage(r, buf.length, 0);
  if (stats !== undefined) stats.limited += r.stats.limited;
  return out;
}

// ---------------------------------------------------------------------------------------------
// With a schema

const CONVERSION: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false, json: true };

/** A gRPC method's message types. */
export interface MethodTypes {
  request: protobuf.Type;
  response: protobuf.Type;
}

/** Paths looked up that named no method, remembered up to this many. */
const MAX_MISSES = 1024;

/** The services of some .proto files, by gRPC path '/package.Service/Method'. */
export class ProtoSchema {
  private readonly methods = new Map<string, MethodTypes>();
  private readonly misses = new Set<string>();

  private constructor(private readonly root: protobuf.Root, readonly files: readonly string[]) {}

  /** Loads and resolves the files (and what they import); throws with protobufjs's reason. */
  static load(files: readonly string[]): ProtoSchema {
    const root = new protobuf.Root();
    root.loadSync([...files], { keepCase: true });
    root.resolveAll();
    return new ProtoSchema(root, files);
  }

  /** The method at a gRPC path, or null when no loaded service declares it. */
  method(path: string): MethodTypes | null {
    const known = this.methods.get(path);
    if (known !== undefined) return known;
    if (this.misses.has(path)) return null;
    const found = this.lookup(path);
    if (found !== null) this.methods.set(path, found);
    else if (this.misses.size < MAX_MISSES) this.misses.add(path);
    return found;
  }

  private lookup(path: string): MethodTypes | null {
    const m = /^\/([A-Za-z_][\w.]*)\/([A-Za-z_]\w*)$/.exec(path);
    if (m === null) return null;
    const service = this.root.lookup(m[1]!);
    if (!(service instanceof protobuf.Service)) return null;
    const method = service.methods[m[2]!];
    if (method === undefined) return null;
    method.resolve();
    const request = method.resolvedRequestType, response = method.resolvedResponseType;
    return request !== null && response !== null ? { request, response } : null;
  }
}

/**
 * A message decoded with its type: fields by name (enums by name, 64-bit integers and bytes as
 * strings, defaults left out as on the wire), and fields the type does not know by number, read
 * schema-less. Throws when the bytes do not fit the type.
 */
export function decodeTyped(type: protobuf.Type, buf: Uint8Array, stats?: WireStats): ProtoObject {
  const reader = protobuf.Reader.create(buf);
  reader.discardUnknown = false; // kept in `$unknowns`, shown by number
  const msg = type.decode(reader);
  const obj = type.toObject(msg, CONVERSION) as ProtoObject;
  addUnknownFields(type, msg, obj, 0, stats);
  return obj;
}

/** protobufjs keeps the raw bytes of unknown fields in `$unknowns`: shown by field number. */
function addUnknownFields(type: protobuf.Type, msg: protobuf.Message, obj: ProtoObject, depth: number, stats?: WireStats): void {
  if (depth >= WIRE_MAX_DEPTH) return;
  const unknowns = (msg as unknown as { $unknowns?: Uint8Array[] }).$unknowns;
  if (unknowns !== undefined) {
    for (const raw of unknowns) {
      const fields = decodeWire(raw, stats);
      if (fields === null) continue;
      for (const [k, v] of Object.entries(fields)) addField(obj, k, v);
    }
  }
  for (const field of type.fieldsArray) {
    const nestedType = field.resolvedType;
    if (!(nestedType instanceof protobuf.Type)) continue;
    const m = (msg as unknown as Record<string, unknown>)[field.name];
    const o = obj[field.name];
    if (m === undefined || m === null || o === undefined || o === null) continue;
    if (field.map || field.repeated) {
      const ms = m as Record<string, protobuf.Message>, os = o as unknown as Record<string, ProtoObject>;
      for (const k of Object.keys(ms)) if (os[k] !== undefined) addUnknownFields(nestedType, ms[k]!, os[k]!, depth + 1, stats);
    } else addUnknownFields(nestedType, m as protobuf.Message, o as ProtoObject, depth + 1, stats);
  }
}
