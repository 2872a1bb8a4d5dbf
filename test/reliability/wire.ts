/**
 * A protobuf wire-format tree for bytes-level mutations that protobuf-es would never produce:
 * wrong wire types, lying length prefixes, over-long varints. Length-delimited fields that parse
 * cleanly as messages get children (a heuristic: some strings parse too, which only widens the fuzz).
 */
export interface WireField {
  no: number;
  /** Wire type written in the tag. */
  wt: number;
  /** Varint payload (wt 0). */
  varint?: bigint;
  /** Fixed (wt 1, 5) or length-delimited (wt 2) payload. */
  bytes?: Uint8Array;
  /** Parsed children of a length-delimited payload; when set, they are serialized instead of `bytes`. */
  children?: WireField[];
  /** Writes this length prefix instead of the real one (a lie about the payload size). */
  lengthOverride?: bigint;
  /** Writes the tag with this wire type while keeping the original payload encoding. */
  tagWireType?: number;
}

const MAX_DEPTH = 64;

function readVarint(buf: Uint8Array, pos: number, end: number): [bigint, number] | undefined {
  let v = 0n;
  for (let shift = 0n, i = 0; i < 10; i++, shift += 7n) {
    if (pos >= end) return undefined;
    const b = buf[pos++]!;
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [v & 0xffffffffffffffffn, pos];
  }
  return undefined;
}

/** The fields of buf[start, end), or undefined if the range is not a clean message. */
export function parseWire(buf: Uint8Array, start = 0, end = buf.byteLength, depth = 0): WireField[] | undefined {
  const out: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const t = readVarint(buf, pos, end);
    if (!t) return undefined;
    pos = t[1];
    const no = Number(t[0] >> 3n);
    const wt = Number(t[0] & 7n);
    if (no < 1 || no > 536870911) return undefined;
    if (wt === 0) {
      const v = readVarint(buf, pos, end);
      if (!v) return undefined;
      out.push({ no, wt, varint: v[0] });
      pos = v[1];
    } else if (wt === 1 || wt === 5) {
      const n = wt === 1 ? 8 : 4;
      if (pos + n > end) return undefined;
      out.push({ no, wt, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wt === 2) {
      const l = readVarint(buf, pos, end);
      if (!l || l[0] > BigInt(end - l[1])) return undefined;
      pos = l[1];
      const len = Number(l[0]);
      const bytes = buf.subarray(pos, pos + len);
      const f: WireField = { no, wt, bytes };
      if (depth < MAX_DEPTH && len > 0) {
        const children = parseWire(buf, pos, pos + len, depth + 1);
        if (children) f.children = children;
      }
      out.push(f);
      pos += len;
    } else {
      return undefined; // groups never appear in ONNX files
    }
  }
  return out;
}

export function encodeVarint(v: bigint): number[] {
  const out: number[] = [];
  let x = v & 0xffffffffffffffffn;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

class Sink {
  chunks: Uint8Array[] = [];
  size = 0;
  push(b: Uint8Array | number[]): void {
    const u = b instanceof Uint8Array ? b : Uint8Array.from(b);
    this.chunks.push(u);
    this.size += u.byteLength;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

export function serializeWire(fields: WireField[]): Uint8Array {
  const s = new Sink();
  for (const f of fields) writeField(s, f);
  return s.concat();
}

function writeField(s: Sink, f: WireField): void {
  s.push(encodeVarint((BigInt(f.no) << 3n) | BigInt(f.tagWireType ?? f.wt)));
  if (f.wt === 0) s.push(encodeVarint(f.varint ?? 0n));
  else if (f.wt === 1 || f.wt === 5) s.push(f.bytes ?? new Uint8Array(f.wt === 1 ? 8 : 4));
  else if (f.wt === 2) {
    const payload = f.children ? serializeWire(f.children) : (f.bytes ?? new Uint8Array());
    s.push(encodeVarint(f.lengthOverride ?? BigInt(payload.byteLength)));
    s.push(payload);
  }
}

/** Every field of the tree with the list that holds it (for in-place edits). */
export function allFields(fields: WireField[], out: { field: WireField; parent: WireField[]; depth: number }[] = [], depth = 0) {
  for (const f of fields) {
    out.push({ field: f, parent: fields, depth });
    if (f.children) allFields(f.children, out, depth + 1);
  }
  return out;
}
