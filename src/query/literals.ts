/**
 * LogQL literals as Loki reads them (Go rules): quoted strings, durations, byte sizes, numbers; and
 * numbers and timestamps as Loki writes them.
 */

/** A malformed literal; the parser turns it into a QueryError with the literal's position. */
export class LiteralError extends Error {}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** A Go string literal: "interpreted" (escapes) or `raw`. */
export function unquote(lit: string): string {
  if (lit.length >= 2 && lit[0] === '`' && lit[lit.length - 1] === '`') return lit.slice(1, -1);
  if (lit.length < 2 || lit[0] !== '"' || lit[lit.length - 1] !== '"') {
    throw new LiteralError(`invalid string literal ${lit}`);
  }
  const body = lit.slice(1, -1);
  if (!body.includes('\\')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) throw new LiteralError('string literal ends in a backslash');
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLen > 0) {
      const hex = body.slice(i + 1, i + 1 + hexLen);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexLen) {
        throw new LiteralError(`invalid escape \\${e}${hex} in string`);
      }
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff && e !== 'x')) {
        throw new LiteralError(`invalid code point \\${e}${hex} in string`);
      }
      // \xHH is a byte in Go; for ASCII that is the character, beyond it the UTF-8 byte is not representable.
      if (e === 'x' && code > 0x7f) throw new LiteralError(`\\x${hex}: only ASCII bytes are supported`);
      out += String.fromCodePoint(code);
      i += hexLen;
      continue;
    }
    if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 0x7f) {
        throw new LiteralError(`invalid octal escape \\${oct} in string`);
      }
      out += String.fromCharCode(Number.parseInt(oct, 8));
      i += 2;
      continue;
    }
    throw new LiteralError(`unknown escape sequence \\${e} in string`);
  }
  return out;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)/y;

/**
 * A duration in ms: Go's time.ParseDuration syntax (`1h30m`, `1.5s`, `250ms`, `-2m`) plus Prometheus's
 * d, w and y. `allowBare` accepts "0" without a unit, as Go does.
 */
export function parseDurationMs(text: string): number {
  let s = text;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new LiteralError(`invalid duration "${text}"`);
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < s.length) {
    const at = DURATION_PART.lastIndex;
    const m = DURATION_PART.exec(s);
    if (!m || m.index !== at) throw new LiteralError(`invalid duration "${text}"`);
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
  }
  return sign * total;
}

/** Byte size units as go-humanize's ParseBytes reads them (case-insensitive; k=1000, ki=1024). */
const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  ti: 2 ** 40,
  tib: 2 ** 40,
  p: 1e15,
  pb: 1e15,
  pi: 2 ** 50,
  pib: 2 ** 50,
  e: 1e18,
  eb: 1e18,
  ei: 2 ** 60,
  eib: 2 ** 60,
};

/** A byte size: `5MB`, `1.5 KiB`, `1,024b`, `42`. */
export function parseBytes(text: string): number {
  const m = /^\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? BYTE_UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new LiteralError(`invalid byte size "${text}"`);
  return Number((m[1] as string).replaceAll(',', '')) * unit;
}

/**
 * A label value read as a number, as Go's strconv.ParseFloat reads it: decimal or hex floats, inf, nan,
 * underscores not allowed; undefined when it is not a number.
 */
export function parseNumber(text: string): number | undefined {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(text)) {
    const neg = text[0] === '-';
    const v = Number.parseInt(text.replace(/^[+-]?0[xX]/, ''), 16);
    return neg ? -v : v;
  }
  const lower = text.toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(lower)) return lower[0] === '-' ? -Infinity : Infinity;
  if (lower === 'nan') return Number.NaN;
  return undefined;
}

/**
 * A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (what Loki puts in sample values): the
 * shortest digits that read back exactly, never in exponent form; +Inf, -Inf and NaN by name.
 */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const neg = s[0] === '-';
  const mant = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mant.indexOf('.');
  const digits = mant.replace('.', '');
  const intLen = (dot < 0 ? mant.length : dot) + exp;
  let out: string;
  if (intLen <= 0) out = `0.${'0'.repeat(-intLen)}${digits}`;
  else if (intLen >= digits.length) out = digits + '0'.repeat(intLen - digits.length);
  else out = `${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  return neg ? `-${out}` : out;
}

/** ms since the epoch as a decimal ns string. */
export function nsString(ms: number): string {
  return ms === 0 ? '0' : `${ms}000000`;
}
