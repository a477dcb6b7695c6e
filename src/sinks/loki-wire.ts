/**
 * Loki push wire codec: `logproto.PushRequest` protobuf (optionally snappy block-compressed), the JSON push form,
 * and the `{a="b", c="d"}` label string with Go-style quoting. Shared by the Loki sink (encode) and the HTTP push
 * endpoint (decode). Timestamps are bigint nanoseconds end to end so nothing passes through a lossy float.
 * Every decoder throws WireFormatError on bad input, never anything else.
 */
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { isObject } from '../types.ts';

export type WireLabels = Record<string, string>;

export interface WireEntry {
  /** Nanoseconds since the epoch. */
  timestampNs: bigint;
  line: string;
  structuredMetadata?: WireLabels;
  /** Labels a parser extracted (rarely pushed; kept for completeness of the wire format). */
  parsed?: WireLabels;
}

export interface WireStream {
  labels: WireLabels;
  entries: WireEntry[];
}

/** The JSON push body: `{"streams":[{"stream":{...},"values":[["<ns>","line",{metadata}]]}]}`. */
export interface JsonPushRequest {
  streams: { stream: WireLabels; values: ([string, string] | [string, string, WireLabels])[] }[];
}

/** Malformed push input: the message says what is wrong and where. */
export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

/** Default cap on a decompressed body, so a tiny hostile payload cannot claim gigabytes. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

// The schema of Loki's pkg/push/push.proto, reduced to the fields that travel on the wire.
const PUSH_PROTO = `
syntax = "proto3";
package logproto;
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
message PushRequest { repeated StreamAdapter streams = 1; string format = 2; }
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
message EntryAdapter {
  Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
  repeated LabelPairAdapter parsed = 4;
}
message LabelPairAdapter { string name = 1; string value = 2; }
`;

const root = protobuf.parse(PUSH_PROTO, { keepCase: true }).root;
const PushRequestType = root.lookupType('logproto.PushRequest');

const NS_PER_SECOND = 1_000_000_000n;

interface PbLabelPair {
  name?: string;
  value?: string;
}
interface PbEntry {
  timestamp?: { seconds?: protobuf.Long | number | string; nanos?: number };
  line?: string;
  structuredMetadata?: PbLabelPair[];
  parsed?: PbLabelPair[];
}
interface PbStream {
  labels?: string;
  entries?: PbEntry[];
}

// ---------------------------------------------------------------------------------------------------------------
// protobuf

/** Fields at their proto3 default are left out, as Go's encoder does, so the bytes match other clients. */
function pairsOf(labels: WireLabels | undefined): PbLabelPair[] | undefined {
  if (!labels) return undefined;
  const pairs = Object.entries(labels).map(([name, value]) => {
    const pair: PbLabelPair = {};
    if (name) pair.name = name;
    if (value) pair.value = value;
    return pair;
  });
  return pairs.length > 0 ? pairs : undefined;
}

function timestampOf(ns: bigint): { seconds?: string; nanos?: number } {
  if (ns < 0n) throw new WireFormatError(`timestamp ${ns} is before the epoch`);
  const seconds = ns / NS_PER_SECOND;
  const nanos = Number(ns % NS_PER_SECOND);
  const ts: { seconds?: string; nanos?: number } = {};
  if (seconds !== 0n) ts.seconds = seconds.toString();
  if (nanos !== 0) ts.nanos = nanos;
  return ts;
}

/** Serializes streams as an uncompressed `logproto.PushRequest`. */
export function encodePushRequest(streams: WireStream[]): Buffer {
  const message = {
    streams: streams.map((s) => {
      const stream: Record<string, unknown> = { labels: formatLabels(s.labels) };
      stream.entries = s.entries.map((e) => {
        const entry: Record<string, unknown> = { timestamp: timestampOf(e.timestampNs) };
        if (e.line) entry.line = e.line;
        const metadata = pairsOf(e.structuredMetadata);
        if (metadata) entry.structuredMetadata = metadata;
        const parsed = pairsOf(e.parsed);
        if (parsed) entry.parsed = parsed;
        return entry;
      });
      return stream;
    }),
  };
  return Buffer.from(PushRequestType.encode(PushRequestType.fromObject(message)).finish());
}

function labelsOfPairs(pairs: PbLabelPair[] | undefined, where: string): WireLabels | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const labels: WireLabels = {};
  for (const p of pairs) {
    const name = p.name ?? '';
    if (!name) throw new WireFormatError(`${where}: empty label name`);
    labels[name] = p.value ?? '';
  }
  return labels;
}

function nanosOf(ts: PbEntry['timestamp'], where: string): bigint {
  if (!ts) throw new WireFormatError(`${where}: missing timestamp`);
  const seconds = BigInt(String(ts.seconds ?? 0));
  const nanos = ts.nanos ?? 0;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos >= 1e9) {
    throw new WireFormatError(`${where}: timestamp nanos ${nanos} out of range`);
  }
  if (seconds < 0n) throw new WireFormatError(`${where}: timestamp before the epoch`);
  return seconds * NS_PER_SECOND + BigInt(nanos);
}

/** Parses an uncompressed `logproto.PushRequest`. */
export function decodePushRequest(buf: Uint8Array): WireStream[] {
  let decoded: { streams?: PbStream[] };
  try {
    decoded = PushRequestType.decode(buf) as unknown as { streams?: PbStream[] };
  } catch (err) {
    throw new WireFormatError(`invalid protobuf PushRequest: ${(err as Error).message}`);
  }
  return (decoded.streams ?? []).map((s, i) => {
    const where = `stream ${i}`;
    const labels = parseLabelsAt(s.labels ?? '', where);
    const entries = (s.entries ?? []).map((e, j): WireEntry => {
      const at = `${where} entry ${j}`;
      const entry: WireEntry = { timestampNs: nanosOf(e.timestamp, at), line: e.line ?? '' };
      const metadata = labelsOfPairs(e.structuredMetadata, at);
      if (metadata) entry.structuredMetadata = metadata;
      const parsed = labelsOfPairs(e.parsed, at);
      if (parsed) entry.parsed = parsed;
      return entry;
    });
    return { labels, entries };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// snappy (block format, not framed: what Loki expects)

export function snappyCompress(buf: Uint8Array): Buffer {
  const out = snappy.compress(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Walks the block's tags and checks every literal and copy stays in bounds and the output fills the declared
 * length exactly: the decompressor itself reads past a truncated literal as zeros instead of failing.
 */
function checkSnappyBlock(buf: Uint8Array, maxBytes: number): void {
  const fail = (msg: string): never => {
    throw new WireFormatError(`invalid snappy block: ${msg}`);
  };
  let pos = 0;
  let declared = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= buf.length || shift > 28) fail('bad length preamble');
    const byte = buf[pos++]!;
    declared += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (declared > maxBytes)
    fail(`the uncompressed length of ${declared} is too big, expect at most ${maxBytes}`);
  let out = 0;
  const le = (n: number): number => {
    if (pos + n > buf.length) fail('truncated tag');
    let v = 0;
    for (let i = 0; i < n; i++) v += buf[pos + i]! * 2 ** (8 * i);
    pos += n;
    return v;
  };
  while (pos < buf.length) {
    const tag = buf[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      const small = tag >>> 2;
      const len = (small < 60 ? small : le(small - 59)) + 1;
      if (pos + len > buf.length) fail('literal runs past the end of the input');
      pos += len;
      out += len;
    } else {
      const len = kind === 1 ? ((tag >>> 2) & 7) + 4 : (tag >>> 2) + 1;
      const offset = kind === 1 ? ((tag >>> 5) << 8) | le(1) : le(kind === 2 ? 2 : 4);
      if (offset === 0 || offset > out) fail('copy offset points before the start of the output');
      out += len;
    }
    if (out > declared) fail('output longer than the declared length');
  }
  if (out !== declared) fail(`output of ${out} bytes, declared ${declared}`);
}

export function snappyDecompress(buf: Uint8Array, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): Buffer {
  if (buf.byteLength === 0) throw new WireFormatError('invalid snappy block: empty body');
  checkSnappyBlock(buf, maxBytes);
  try {
    const out = snappy.uncompress(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), maxBytes);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new WireFormatError(`invalid snappy block: ${(err as Error).message}`);
  }
}

/** The default Loki wire body: protobuf, snappy-compressed. */
export function encodeSnappyPush(streams: WireStream[]): Buffer {
  return snappyCompress(encodePushRequest(streams));
}

export function decodeSnappyPush(buf: Uint8Array, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): WireStream[] {
  return decodePushRequest(snappyDecompress(buf, maxBytes));
}

// ---------------------------------------------------------------------------------------------------------------
// JSON push form

export function toJsonPush(streams: WireStream[]): JsonPushRequest {
  return {
    streams: streams.map((s) => ({
      stream: { ...s.labels },
      values: s.entries.map((e) => {
        const ns = e.timestampNs.toString();
        const md = e.structuredMetadata;
        return md && Object.keys(md).length > 0 ? [ns, e.line, { ...md }] : [ns, e.line];
      }),
    })),
  };
}

function stringMap(v: unknown, where: string): WireLabels {
  if (!isObject(v)) throw new WireFormatError(`${where}: expected an object of strings`);
  const out: WireLabels = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new WireFormatError(`${where}.${k}: expected a string value`);
    out[k] = val;
  }
  return out;
}

const NS_STRING = /^\d{1,30}$/;

/** Validates a parsed JSON push body (Loki's rules: timestamps are strings of epoch nanoseconds). */
export function fromJsonPush(body: unknown): WireStream[] {
  if (!isObject(body) || !Array.isArray(body.streams)) {
    throw new WireFormatError('push body: expected {"streams": [...]}');
  }
  return body.streams.map((s: unknown, i: number): WireStream => {
    const where = `streams[${i}]`;
    if (!isObject(s)) throw new WireFormatError(`${where}: expected an object`);
    const labels = stringMap(s.stream ?? {}, `${where}.stream`);
    for (const name of Object.keys(labels)) checkLabelName(name, `${where}.stream`);
    if (!Array.isArray(s.values)) throw new WireFormatError(`${where}.values: expected an array`);
    const entries = s.values.map((v: unknown, j: number): WireEntry => {
      const at = `${where}.values[${j}]`;
      if (!Array.isArray(v) || v.length < 2 || v.length > 3) {
        throw new WireFormatError(`${at}: expected ["<ns>", "<line>"] or ["<ns>", "<line>", {metadata}]`);
      }
      const [ts, line, md] = v as unknown[];
      if (typeof ts !== 'string' || !NS_STRING.test(ts)) {
        throw new WireFormatError(`${at}[0]: timestamp must be a string of epoch nanoseconds`);
      }
      if (typeof line !== 'string') throw new WireFormatError(`${at}[1]: line must be a string`);
      const entry: WireEntry = { timestampNs: BigInt(ts), line };
      if (md !== undefined) {
        const metadata = stringMap(md, `${at}[2]`);
        if (Object.keys(metadata).length > 0) entry.structuredMetadata = metadata;
      }
      return entry;
    });
    return { labels, entries };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// label strings: {a="b", c="d"}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkLabelName(name: string, where: string): void {
  if (!LABEL_NAME.test(name))
    throw new WireFormatError(`${where}: invalid label name ${JSON.stringify(name)}`);
}

const SHORT_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
  '"': '\\"',
};

/** Quotes a value as Go's strconv.Quote does for the characters that matter (controls, quote, backslash). */
export function quoteGo(value: string): string {
  let out = '"';
  for (const ch of value) {
    const short = SHORT_ESCAPES[ch];
    if (short) out += short;
    else {
      const code = ch.codePointAt(0)!;
      if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else if (code === 0xfffd || (code >= 0xd800 && code <= 0xdfff)) out += '\\ufffd';
      else out += ch;
    }
  }
  return `${out}"`;
}

/** `{a="b", c="d"}` with names sorted, the canonical form Prometheus and Loki print. */
export function formatLabels(labels: WireLabels): string {
  const names = Object.keys(labels).sort();
  for (const name of names) checkLabelName(name, 'labels');
  return `{${names.map((n) => `${n}=${quoteGo(labels[n]!)}`).join(', ')}}`;
}

export function parseLabels(text: string): WireLabels {
  return parseLabelsAt(text, 'labels');
}

const SIMPLE_UNESCAPES: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
  '"': 0x22,
  "'": 0x27,
  '`': 0x60,
};

/** Parses a label set in the promql selector syntax Loki accepts in push requests: only `=` matchers. */
function parseLabelsAt(text: string, where: string): WireLabels {
  let pos = 0;
  const fail = (msg: string): never => {
    throw new WireFormatError(`${where}: ${msg} at offset ${pos} in ${JSON.stringify(text.slice(0, 200))}`);
  };
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  const readName = (): string => {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(pos));
    if (!m) return fail('expected a label name');
    pos += m[0].length;
    return m[0];
  };
  const readQuoted = (): string => {
    const quote = text[pos];
    if (quote === '`') {
      const close = text.indexOf('`', pos + 1);
      if (close < 0) return fail('unterminated raw string');
      const raw = text.slice(pos + 1, close);
      pos = close + 1;
      return raw;
    }
    if (quote !== '"') return fail('expected a quoted value');
    pos++;
    // Escapes like \xNN denote bytes, so collect UTF-8 bytes and decode once at the end.
    const bytes: number[] = [];
    for (;;) {
      if (pos >= text.length) return fail('unterminated string');
      const ch = text[pos]!;
      if (ch === '"') {
        pos++;
        break;
      }
      if (ch === '\n') return fail('newline in string');
      if (ch !== '\\') {
        const cp = text.codePointAt(pos)!;
        const s = String.fromCodePoint(cp);
        bytes.push(...Buffer.from(s, 'utf8'));
        pos += s.length;
        continue;
      }
      const esc = text[pos + 1];
      if (esc === undefined) return fail('unterminated escape');
      const simple = SIMPLE_UNESCAPES[esc];
      if (simple !== undefined) {
        bytes.push(simple);
        pos += 2;
      } else if (esc === 'x' || esc === 'u' || esc === 'U') {
        const width = esc === 'x' ? 2 : esc === 'u' ? 4 : 8;
        const hex = text.slice(pos + 2, pos + 2 + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) return fail(`bad \\${esc} escape`);
        const n = Number.parseInt(hex, 16);
        if (esc === 'x') bytes.push(n);
        else {
          if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return fail('escape is not a valid code point');
          bytes.push(...Buffer.from(String.fromCodePoint(n), 'utf8'));
        }
        pos += 2 + width;
      } else if (esc >= '0' && esc <= '7') {
        const oct = text.slice(pos + 1, pos + 4);
        if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) return fail('bad octal escape');
        bytes.push(Number.parseInt(oct, 8));
        pos += 4;
      } else return fail(`unknown escape \\${esc}`);
    }
    return Buffer.from(bytes).toString('utf8');
  };

  skipSpace();
  if (text[pos] !== '{') fail("expected '{'");
  pos++;
  const labels: WireLabels = {};
  skipSpace();
  if (text[pos] === '}') pos++;
  else {
    for (;;) {
      skipSpace();
      const name = readName();
      skipSpace();
      if (text[pos] !== '=' || text[pos + 1] === '~')
        fail(`expected '=' after ${name} (only equality in a label set)`);
      pos++;
      skipSpace();
      const value = readQuoted();
      if (Object.hasOwn(labels, name)) fail(`duplicate label ${name}`);
      labels[name] = value;
      skipSpace();
      if (text[pos] === ',') {
        pos++;
        skipSpace();
        if (text[pos] === '}') {
          pos++;
          break;
        }
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        break;
      }
      fail("expected ',' or '}'");
    }
  }
  skipSpace();
  if (pos !== text.length) fail('trailing characters after the label set');
  return labels;
}
