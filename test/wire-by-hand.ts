/**
 * A minimal protobuf writer and reader and a snappy block decoder, written from the wire-format specs and
 * independent of protobufjs and snappyjs, so tests can build expected bytes by hand and check what a
 * receiver got without trusting the code under test.
 */

export function varint(value: number | bigint): Buffer {
  let v = BigInt(value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

export function pbVarint(field: number, value: number | bigint): Buffer {
  return Buffer.concat([varint(field << 3), varint(value)]);
}

export function pbBytes(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

export function pbString(field: number, text: string): Buffer {
  return pbBytes(field, Buffer.from(text, 'utf8'));
}

export interface PbField {
  field: number;
  /** Varint fields: the value; length-delimited fields: the bytes. */
  value: bigint | Buffer;
}

/** Splits one message into its fields (varint, 64-bit, length-delimited, 32-bit). */
export function readFields(buf: Buffer): PbField[] {
  const fields: PbField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ field, value: readVarint() });
    else if (wire === 2) {
      const len = Number(readVarint());
      if (pos + len > buf.length) throw new Error('truncated field');
      fields.push({ field, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) {
      fields.push({ field, value: buf.readBigUInt64LE(pos) });
      pos += 8;
    } else if (wire === 5) {
      fields.push({ field, value: BigInt(buf.readUInt32LE(pos)) });
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return fields;
}

export function fieldsNamed(fields: PbField[], field: number): PbField['value'][] {
  return fields.filter((f) => f.field === field).map((f) => f.value);
}

/** Decodes a snappy block (format_description.txt of the snappy project: varint length, literals and copies). */
export function unsnappy(buf: Buffer): Buffer {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = buf[pos++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  const out = Buffer.alloc(length);
  let op = 0;
  while (pos < buf.length) {
    const tag = buf[pos++]!;
    if ((tag & 3) === 0) {
      let len = (tag >> 2) + 1;
      if (tag >> 2 >= 60) {
        const n = (tag >> 2) - 59;
        len = buf.readUIntLE(pos, n) + 1;
        pos += n;
      }
      buf.copy(out, op, pos, pos + len);
      pos += len;
      op += len;
      continue;
    }
    let len: number;
    let offset: number;
    if ((tag & 3) === 1) {
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | buf[pos++]!;
    } else if ((tag & 3) === 2) {
      len = (tag >> 2) + 1;
      offset = buf.readUInt16LE(pos);
      pos += 2;
    } else {
      len = (tag >> 2) + 1;
      offset = buf.readUInt32LE(pos);
      pos += 4;
    }
    for (let i = 0; i < len; i++, op++) out[op] = out[op - offset]!;
  }
  if (op !== length) throw new Error(`snappy: ${op} bytes decoded, ${length} declared`);
  return out;
}
