/**
 * Request parameters parsed the way Loki's HTTP API parses them (pkg/loghttp/params.go): timestamps as
 * RFC3339, float seconds or integer seconds/nanoseconds; Prometheus durations; `since`; defaults of the last
 * hour, limit 100 and direction backward; `step` as a duration or float seconds, defaulting to range/250.
 * Every error is a BadRequest whose message names the parameter.
 */
import type { Nanos } from '../query/api.ts';
import { BadRequest } from './http-errors.ts';

export const DEFAULT_LIMIT = 100;
export const DEFAULT_SINCE_MS = 3_600_000;
/** Loki refuses a range query with more points per series than this. */
export const MAX_POINTS_PER_SERIES = 11_000;

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** Form values: a POST form body first, then the URL query (Go's r.Form order, so `get` prefers the body). */
export class Params {
  constructor(private readonly sources: readonly URLSearchParams[]) {}

  get(name: string): string {
    for (const s of this.sources) {
      const v = s.get(name);
      if (v !== null) return v;
    }
    return '';
  }

  getAll(name: string): string[] {
    return this.sources.flatMap((s) => s.getAll(name));
  }
}

export function nowNs(): Nanos {
  return BigInt(Date.now()) * NS_PER_MS;
}

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** A Prometheus duration (`1h30m`, `15000ms`, `0`) in ms, or undefined when `text` is not one. */
export function parsePromDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  const m = DURATION_RE.exec(text);
  if (!m) return undefined;
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS_MS.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * (DURATION_UNITS_MS[i] as number);
  }
  return Number.isSafeInteger(ms) ? ms : undefined;
}

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;
const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const INT64_MAX = 2n ** 63n - 1n;

function parseRfc3339(text: string): Nanos | undefined {
  const m = RFC3339_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Date.UTC rolls over (Feb 30 -> Mar 2); Go's parser refuses out-of-range fields, so do we.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const frac = BigInt((m[7] ?? '').padEnd(9, '0'));
  let offsetMin = 0;
  if (m[8] === undefined) {
    offsetMin = (Number(m[10]) * 60 + Number(m[11])) * (m[9] === '-' ? -1 : 1);
  }
  return BigInt(ms - offsetMin * 60_000) * NS_PER_MS + frac;
}

/**
 * A timestamp as Loki reads one: RFC3339(Nano); a number with a '.' as float seconds (ms precision) unless its
 * integer part exceeds 1e10 (then ns); an integer up to 1e10 as seconds, above as nanoseconds.
 * Returns undefined when `text` is none of these.
 */
export function parseTimestampNs(text: string): Nanos | undefined {
  const rfc = parseRfc3339(text);
  if (rfc !== undefined) return rfc;
  if (text.includes('.')) {
    if (!FLOAT_RE.test(text)) return undefined;
    const t = Number(text);
    if (!Number.isFinite(t)) return undefined;
    const high = Math.trunc(t);
    if (high <= 1e10) {
      const lowMs = Math.round((t - high) * 1000);
      return BigInt(high) * NS_PER_S + BigInt(lowMs) * NS_PER_MS;
    }
    if (high > Number(INT64_MAX)) return undefined;
    return BigInt(high);
  }
  if (!INT_RE.test(text)) return undefined;
  const v = BigInt(text);
  if (v > INT64_MAX || v < -INT64_MAX - 1n) return undefined;
  return v <= 10_000_000_000n ? v * NS_PER_S : v;
}

/** Parameter `name` as a timestamp, `def` when absent. */
export function timestampParam(params: Params, name: string, def: Nanos): Nanos {
  const text = params.get(name);
  if (text === '') return def;
  const ns = parseTimestampNs(text);
  if (ns === undefined) {
    throw new BadRequest(
      `could not parse '${name}' parameter: invalid timestamp ${JSON.stringify(text)} ` +
        '(expected RFC3339, or seconds or nanoseconds since the epoch)',
    );
  }
  return ns;
}

export interface Bounds {
  start: Nanos;
  end: Nanos;
}

/** `start`/`end`/`since` as Loki resolves them: end defaults to now; start to min(end, now) - since (1h). */
export function bounds(params: Params, now: Nanos = nowNs()): Bounds {
  let sinceMs = DEFAULT_SINCE_MS;
  const sinceText = params.get('since');
  if (sinceText !== '') {
    const d = parsePromDuration(sinceText);
    if (d === undefined) {
      throw new BadRequest(
        `could not parse 'since' parameter: not a valid duration string: ${JSON.stringify(sinceText)}`,
      );
    }
    sinceMs = d;
  }
  const end = timestampParam(params, 'end', now);
  const endOrNow = end > now ? now : end;
  const start = timestampParam(params, 'start', endOrNow - BigInt(sinceMs) * NS_PER_MS);
  return { start, end };
}

/** An integer parameter as Go's strconv.Atoi reads it. */
function intParam(params: Params, name: string, def: number): number {
  const text = params.get(name);
  if (text === '') return def;
  if (!INT_RE.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new BadRequest(`could not parse '${name}' parameter: ${JSON.stringify(text)} is not an integer`);
  }
  return Number(text);
}

export function limitParam(params: Params): number {
  const l = intParam(params, 'limit', DEFAULT_LIMIT);
  if (l <= 0) throw new BadRequest('limit must be a positive value');
  return l;
}

export function directionParam(params: Params): 'forward' | 'backward' {
  const text = params.get('direction');
  if (text === '') return 'backward';
  const d = text.toLowerCase();
  if (d !== 'forward' && d !== 'backward') throw new BadRequest(`invalid direction '${text}'`);
  return d;
}

/** Float seconds or a Prometheus duration, in ms. */
export function parseSecondsOrDurationMs(text: string): number | undefined {
  if (FLOAT_RE.test(text)) {
    const s = Number(text);
    return Number.isFinite(s) ? s * 1000 : undefined;
  }
  return parsePromDuration(text);
}

function durationParamMs(params: Params, name: string): number | undefined {
  const text = params.get(name);
  if (text === '') return undefined;
  const ms = parseSecondsOrDurationMs(text);
  if (ms === undefined) {
    throw new BadRequest(
      `could not parse '${name}' parameter: cannot parse ${JSON.stringify(text)} to a valid duration`,
    );
  }
  return ms;
}

/** Loki's default step: range / 250, whole seconds, at least 1 s. */
export function defaultStepMs(b: Bounds): number {
  const seconds = Number(b.end - b.start) / 1e9;
  return Math.max(Math.floor(seconds / 250), 1) * 1000;
}

export function stepParamMs(params: Params, b: Bounds): number {
  const step = durationParamMs(params, 'step') ?? defaultStepMs(b);
  if (step <= 0) {
    throw new BadRequest(
      'zero or negative query resolution step widths are not accepted. Try a positive integer',
    );
  }
  if (Number(b.end - b.start) / 1e6 / step > MAX_POINTS_PER_SERIES) {
    throw new BadRequest(
      'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)',
    );
  }
  return step;
}

/** `interval` (log queries only) is validated like Loki does; the engine returns every line in range. */
export function checkIntervalParam(params: Params): void {
  const ms = durationParamMs(params, 'interval');
  if (ms !== undefined && ms < 0) throw new BadRequest("'interval' must not be negative");
}

export function delayForParam(params: Params): number {
  const d = intParam(params, 'delay_for', 0);
  if (d < 0) throw new BadRequest("'delay_for' must not be negative");
  if (d > 5) throw new BadRequest("delay_for can't be greater than 5");
  return d;
}
