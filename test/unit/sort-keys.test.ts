import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { sortKeys } from '../../src/sort-keys.ts';

test('sortKeys orders like Array.prototype.sort() without a comparator, in place', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { maxLength: 60 }), (keys) => {
      const copy = [...keys];
      const out = sortKeys(copy);
      assert.equal(out, copy, 'sorted in place');
      assert.deepEqual(out, [...keys].sort());
    }),
    { numRuns: 2000 },
  );
});

test('sortKeys: code-unit order, not locale order (uppercase before lowercase, surrogates by unit)', () => {
  assert.deepEqual(sortKeys(['b', 'a', 'B', '\u{1F600}', '\uFF5E', 'A', '']), [
    '',
    'A',
    'B',
    'a',
    'b',
    '\u{1F600}',
    '\uFF5E',
  ]);
});
