import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CanonicalJsonError, canonicalJson, MAX_DEPTH } from '../../src/audit/canonical.ts';

/** Independent reference: sort keys by UTF-16 code units, JSON.stringify for scalars. */
function reference(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : reference(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort()) {
    if (o[k] === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${reference(o[k])}`);
  }
  return `{${parts.join(',')}}`;
}

const jsonValue = fc.jsonValue({ maxDepth: 6 });

describe('canonicalJson', () => {
  test('sorts keys, no whitespace', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [3, { d: true, c: null }], '': 'x' }),
      '{"":"x","a":[3,{"c":null,"d":true}],"b":1}',
    );
  });

  test('key order is by UTF-16 code units, not locale', () => {
    assert.equal(
      canonicalJson({ a: 1, B: 2, é: 3, '\u{1F600}': 4, '\uFFFF': 5 }),
      '{"B":2,"a":1,"é":3,"😀":4,"\uFFFF":5}',
    );
  });

  test('array-index keys are ordered as strings ("10" before "9")', () => {
    assert.equal(
      canonicalJson({ 9: 'a', 10: 'b', x: { 2: 1, 1: 2 } }),
      '{"10":"b","9":"a","x":{"1":2,"2":1}}',
    );
  });

  test('strings and numbers are written as JSON.stringify writes them', () => {
    const v = { s: 'a"b\\c\n\u0001\u2028\ud800', n: [0, -0, 1e21, 1.5e-7, 123456789.125, -1] };
    assert.equal(canonicalJson(v), reference(v));
  });

  test('undefined properties are omitted, undefined array items become null', () => {
    // biome-ignore lint/suspicious/noSparseArray: a hole is part of what is being tested
    assert.equal(canonicalJson({ a: undefined, b: [undefined, 1, , 2] }), '{"b":[null,1,null,2]}');
  });

  test('undefined properties of objects already in order are omitted too, wherever they sit', () => {
    assert.equal(
      canonicalJson({ a: 1, b: undefined, c: { x: undefined, y: 2, z: undefined } }),
      '{"a":1,"c":{"y":2}}',
    );
    assert.equal(canonicalJson({ a: { toJSON: () => undefined }, b: 1 }), '{"b":1}');
  });

  test('toJSON is honoured', () => {
    assert.equal(canonicalJson({ d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z"}');
  });

  test('a "__proto__" key is kept as data', () => {
    const v = JSON.parse('{"z":1,"__proto__":{"x":1}}') as unknown;
    assert.equal(canonicalJson(v), '{"__proto__":{"x":1},"z":1}');
  });

  test('rejects non-finite numbers, bigint, functions, symbols', () => {
    for (const bad of [
      { a: Number.NaN },
      [Number.POSITIVE_INFINITY],
      { a: -Infinity },
      { a: 1n },
      { f: () => 1 },
      { s: Symbol('x') },
    ]) {
      assert.throws(() => canonicalJson(bad), CanonicalJsonError);
    }
    assert.throws(() => canonicalJson(undefined), CanonicalJsonError);
  });

  test('rejects cycles and excessive nesting', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    assert.throws(() => canonicalJson(a), /nesting deeper/);
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
    assert.throws(() => canonicalJson(deep), /nesting deeper/);
  });

  test('does not modify its input', () => {
    const v = { b: { d: 1, c: 2 }, a: [{ y: 1, x: undefined }] };
    const before = JSON.stringify(v);
    canonicalJson(v);
    assert.equal(JSON.stringify(v), before);
    assert.deepEqual(Object.keys(v), ['b', 'a']);
  });

  test('property: equals the reference serializer', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        assert.equal(canonicalJson(v), reference(v));
      }),
      { numRuns: 500 },
    );
  });

  test('property: parse -> canonicalize is a fixed point', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const c = canonicalJson(v);
        assert.equal(canonicalJson(JSON.parse(c)), c);
      }),
      { numRuns: 500 },
    );
  });

  test('property: independent of key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        assert.equal(canonicalJson(reversed), canonicalJson(o));
      }),
      { numRuns: 300 },
    );
  });
});
