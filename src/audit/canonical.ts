/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, strings and numbers
 * serialized exactly as `JSON.stringify` does (which is what RFC 8785 specifies for them).
 *
 * The audit chain hashes this form, so it must be a pure function of the JSON value: parsing a
 * canonical line and serializing it again yields the same text. To keep that true the serializer
 * is strict where `JSON.stringify` is lenient:
 * - non-finite numbers, bigints, functions and symbols are rejected (TypeError) instead of
 *   silently becoming `null` or disappearing;
 * - object properties whose value is `undefined` are omitted (as JSON.stringify does), array
 *   elements that are `undefined` or holes become `null` (likewise); both survive a round trip;
 * - `toJSON()` is honoured, like JSON.stringify;
 * - nesting deeper than MAX_DEPTH (or a cycle, which would be infinitely deep) is rejected.
 */

import { sortKeys } from '../sort-keys.ts';

export const MAX_DEPTH = 512;

export class CanonicalJsonError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

export function canonicalJson(value: unknown): string {
  // Fast path: rebuild the value with object keys inserted in sorted order (reusing every subtree
  // that is already in order) and let the native JSON.stringify write it. Objects with array-index
  // keys ("0", "17") cannot be ordered by insertion (JS enumerates those first, numerically), so a
  // value containing one is written by the string-building serializer instead.
  let normalized: unknown;
  try {
    normalized = normalize(value, '', 0);
  } catch (err) {
    if (err !== INDEX_KEY) throw err;
    const out = serialize(value, '', 0);
    if (out === undefined) throw new CanonicalJsonError('top-level value is not serializable (undefined)');
    return out;
  }
  if (normalized === UNDEF) throw new CanonicalJsonError('top-level value is not serializable (undefined)');
  return JSON.stringify(normalized);
}

const UNDEF = Symbol('undefined');
const INDEX_KEY = Symbol('array-index key');

function isIndexKey(k: string): boolean {
  const c = k.charCodeAt(0);
  if (c < 48 || c > 57) return false;
  if (k === '0') return true;
  if (c === 48 || !/^[0-9]+$/.test(k)) return false;
  return Number(k) < 4294967295;
}

/** What JSON.stringify would serialize for `value` under `key`: the result of its toJSON() if it has one. */
function viaToJSON(value: unknown, key: string): unknown {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    return (value as { toJSON: (k: string) => unknown }).toJSON(key);
  }
  return value;
}

function normalize(input: unknown, key: string, depth: number): unknown {
  const value = viaToJSON(input, key);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`non-finite number at ${describe(key)}`);
      return value;
    case 'undefined':
      return UNDEF;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`unsupported ${typeof value} at ${describe(key)}`);
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) throw new CanonicalJsonError(`nesting deeper than ${MAX_DEPTH} (or a cycle)`);
  const next = depth + 1;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    const n = value.length;
    for (let i = 0; i < n; i++) {
      const item: unknown = value[i];
      let v = normalize(item, String(i), next);
      if (v === UNDEF) v = null;
      if (out === null && v !== item) out = value.slice(0, i);
      if (out !== null) out.push(v);
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (isIndexKey(k)) throw INDEX_KEY;
    if (i > 0 && (keys[i - 1] as string) > k) sorted = false;
  }
  if (!sorted) sortKeys(keys);
  // Copy-on-write: `out` stays null while the object can be returned as it is.
  let out: Record<string, unknown> | null = sorted && value === input ? null : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const item = obj[k];
    const v = normalize(item, k, next);
    if (out === null) {
      // A property holding undefined needs no copy to drop it: JSON.stringify leaves it out as well.
      if (v === item || (v === UNDEF && item === undefined)) continue;
      out = {};
      for (let j = 0; j < i; j++) {
        const kj = keys[j] as string;
        setProp(out, kj, obj[kj]);
      }
    }
    if (v !== UNDEF) setProp(out, k, v);
  }
  return out ?? value;
}

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** String-building serializer, used when a value has array-index keys. Same output rules. */
function serialize(input: unknown, key: string, depth: number): string | undefined {
  const value = viaToJSON(input, key);
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`non-finite number at ${describe(key)}`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`unsupported ${typeof value} at ${describe(key)}`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new CanonicalJsonError(`nesting deeper than ${MAX_DEPTH} (or a cycle)`);
  const next = depth + 1;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return '[]';
    let s = '[';
    for (let i = 0; i < n; i++) {
      if (i > 0) s += ',';
      s += serialize(value[i], String(i), next) ?? 'null';
    }
    return `${s}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = sortKeys(Object.keys(obj));
  let s = '{';
  let first = true;
  for (const k of keys) {
    const v = serialize(obj[k], k, next);
    if (v === undefined) continue;
    if (first) first = false;
    else s += ',';
    s += JSON.stringify(k);
    s += ':';
    s += v;
  }
  return `${s}}`;
}

function describe(key: string): string {
  return key === '' ? 'top level' : `key ${JSON.stringify(key)}`;
}
