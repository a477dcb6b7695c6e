import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodePushRequest,
  decodeSnappyPush,
  encodePushRequest,
  encodeSnappyPush,
  formatLabels,
  fromJsonPush,
  parseLabels,
  quoteGo,
  snappyCompress,
  snappyDecompress,
  toJsonPush,
  WireFormatError,
  type WireStream,
} from '../../src/sinks/loki-wire.ts';
import { pbBytes, pbString, pbVarint } from '../wire-by-hand.ts';

const sample: WireStream[] = [
  {
    labels: { service: 'claude-telemetry', host: 'h1', event_type: 'PreToolUse' },
    entries: [
      {
        timestampNs: 1736000000123456789n,
        line: '{"id":"e1","tool":"Bash"}',
        structuredMetadata: { session_id: '0bba-1', tool: 'Bash' },
      },
      { timestampNs: 1736000000123456790n, line: 'second' },
    ],
  },
  { labels: {}, entries: [{ timestampNs: 5n, line: '', parsed: { level: 'info' } }] },
];

describe('protobuf PushRequest', () => {
  it('round-trips streams with exact nanosecond timestamps', () => {
    const back = decodePushRequest(encodePushRequest(sample));
    assert.deepEqual(back, sample);
  });

  it('keeps timestamps beyond 2^53 ns and far in the future exact', () => {
    const big = 9_007_199_254_740_993_123n; // > 2^63 / 1000, seconds well above 2^32
    const streams: WireStream[] = [{ labels: { a: 'b' }, entries: [{ timestampNs: big, line: 'x' }] }];
    assert.equal(decodePushRequest(encodePushRequest(streams))[0]!.entries[0]!.timestampNs, big);
    const max = (2n ** 63n - 1n) * 1_000_000_000n + 999_999_999n;
    const far: WireStream[] = [{ labels: {}, entries: [{ timestampNs: max, line: '' }] }];
    assert.equal(decodePushRequest(encodePushRequest(far))[0]!.entries[0]!.timestampNs, max);
  });

  it('matches a hand-built buffer byte for byte (proto3 defaults left out, as Go does)', () => {
    const streams: WireStream[] = [
      {
        labels: { b: 'y', a: 'x' },
        entries: [{ timestampNs: 1_700_000_000_000_000_042n, line: 'hi', structuredMetadata: { k: 'v' } }],
      },
    ];
    const timestamp = Buffer.concat([pbVarint(1, 1_700_000_000), pbVarint(2, 42)]);
    const pair = Buffer.concat([pbString(1, 'k'), pbString(2, 'v')]);
    const entry = Buffer.concat([pbBytes(1, timestamp), pbString(2, 'hi'), pbBytes(3, pair)]);
    const stream = Buffer.concat([pbString(1, '{a="x", b="y"}'), pbBytes(2, entry)]);
    const expected = pbBytes(1, stream);
    assert.deepEqual(encodePushRequest(streams), expected);
    assert.deepEqual(decodePushRequest(expected), [{ ...streams[0]!, labels: { a: 'x', b: 'y' } }]);
  });

  it('rejects malformed protobuf with a WireFormatError', () => {
    const good = encodePushRequest(sample);
    for (const bad of [
      good.subarray(0, good.length - 3),
      Buffer.from([0x0a, 0xff]),
      Buffer.from([0xff, 0xff]),
    ]) {
      assert.throws(() => decodePushRequest(bad), WireFormatError);
    }
  });

  it('rejects a stream whose label string does not parse, naming the stream', () => {
    const buf = pbBytes(1, pbString(1, '{a="x"'));
    assert.throws(() => decodePushRequest(buf), /stream 0: unterminated string|stream 0: .*expected/);
  });

  it('rejects out-of-range nanos', () => {
    const ts = Buffer.concat([pbVarint(1, 1), pbVarint(2, 1_000_000_000)]);
    const buf = pbBytes(1, Buffer.concat([pbString(1, '{}'), pbBytes(2, pbBytes(1, ts))]));
    assert.throws(() => decodePushRequest(buf), /nanos 1000000000 out of range/);
  });
});

describe('snappy', () => {
  it('round-trips and compresses repetitive bodies', () => {
    const body = encodePushRequest(sample);
    const big = Buffer.concat(Array.from({ length: 50 }, () => body));
    const packed = snappyCompress(big);
    assert.ok(packed.length < big.length / 4, `${packed.length} vs ${big.length}`);
    assert.deepEqual(snappyDecompress(packed), big);
    assert.deepEqual(decodeSnappyPush(encodeSnappyPush(sample)), sample);
  });

  it('rejects garbage, empty bodies and bodies above the size cap', () => {
    assert.throws(() => snappyDecompress(Buffer.alloc(0)), WireFormatError);
    assert.throws(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), WireFormatError);
    assert.throws(() => snappyDecompress(Buffer.from([0x05, 0x00, 0x61])), WireFormatError);
    const packed = snappyCompress(Buffer.alloc(10_000, 1));
    assert.throws(() => snappyDecompress(packed, 1000), /too big/);
  });
});

describe('hostile input', () => {
  const onlyWireErrors = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(
        err instanceof WireFormatError,
        `unexpected ${(err as Error).name}: ${(err as Error).message}`,
      );
    }
  };

  it('random bytes and truncated or bit-flipped bodies give WireFormatError or a result, never a crash', () => {
    const good = encodeSnappyPush(sample);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        onlyWireErrors(() => decodeSnappyPush(buf));
        onlyWireErrors(() => decodePushRequest(buf));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const flipped = Buffer.from(good);
        flipped[at] = flipped[at]! ^ flip;
        onlyWireErrors(() => decodeSnappyPush(flipped));
        onlyWireErrors(() => decodeSnappyPush(good.subarray(0, at)));
      }),
      { numRuns: 500 },
    );
  });

  it('a truncated snappy block is an error, not zero-filled output', () => {
    const packed = snappyCompress(Buffer.from('abcdefghijklmnopqrstuvwxyz'));
    assert.throws(() => snappyDecompress(packed.subarray(0, packed.length - 5)), /literal runs past the end/);
  });
});

describe('JSON push form', () => {
  it('round-trips through JSON text with string nanoseconds', () => {
    const onlyJsonFields = sample.map((s) => ({
      labels: s.labels,
      entries: s.entries.map(({ parsed: _parsed, ...e }) => e),
    }));
    const text = JSON.stringify(toJsonPush(sample));
    assert.match(text, /"1736000000123456789"/);
    assert.match(
      text,
      /\["1736000000123456789","\{\\"id\\":\\"e1\\",\\"tool\\":\\"Bash\\"\}",\{"session_id"/,
    );
    assert.deepEqual(fromJsonPush(JSON.parse(text)), onlyJsonFields);
  });

  it('rejects numeric timestamps, bad shapes and non-string metadata with a pointed message', () => {
    const cases: [unknown, RegExp][] = [
      [null, /expected \{"streams"/],
      [{ streams: {} }, /expected \{"streams"/],
      [{ streams: [{ stream: { a: 1 }, values: [] }] }, /streams\[0\]\.stream\.a/],
      [{ streams: [{ stream: { 'a-b': 'x' }, values: [] }] }, /invalid label name/],
      [
        { streams: [{ stream: {}, values: [[1736000000, 'x']] }] },
        /values\[0\]\[0\]: timestamp must be a string/,
      ],
      [{ streams: [{ stream: {}, values: [['12.5', 'x']] }] }, /timestamp must be a string of epoch/],
      [{ streams: [{ stream: {}, values: [['1', 7]] }] }, /values\[0\]\[1\]/],
      [{ streams: [{ stream: {}, values: [['1', 'x', { k: 2 }]] }] }, /values\[0\]\[2\]\.k/],
      [{ streams: [{ stream: {}, values: [['1']] }] }, /expected \["<ns>"/],
    ];
    for (const [body, message] of cases) assert.throws(() => fromJsonPush(body), message);
  });
});

describe('label strings', () => {
  it('formats sorted with Go escaping and parses back', () => {
    const labels = { z: 'plain', a: 'quo"te', m: 'back\\slash\nnew\ttab\x01', u: 'üñí 😀' };
    const text = formatLabels(labels);
    assert.equal(text, '{a="quo\\"te", m="back\\\\slash\\nnew\\ttab\\x01", u="üñí 😀", z="plain"}');
    assert.deepEqual(parseLabels(text), labels);
    assert.equal(formatLabels({}), '{}');
    assert.equal(quoteGo('\x07\b\f\v\r\x7f'), '"\\a\\b\\f\\v\\r\\x7f"');
  });

  it('accepts Go escapes, raw strings, loose spacing and a trailing comma', () => {
    assert.deepEqual(parseLabels(' { a = "\\x41\\u00e9\\U0001F600\\101" ,b=`r\\aw`, } '), {
      a: 'Aé😀A',
      b: 'r\\aw',
    });
    assert.deepEqual(parseLabels('{a="\\xc3\\xa9"}'), { a: 'é' });
  });

  it('rejects malformed label strings with the offset', () => {
    const bad = [
      'a="b"',
      '{a="b"',
      '{a=~"b"}',
      '{a="b" c="d"}',
      '{1a="b"}',
      '{a="b", a="c"}',
      '{a="\\q"}',
      '{a="\\x4"}',
      '{a="b"} x',
      '{a="\\uD800"}',
      '{a=b}',
    ];
    for (const text of bad) assert.throws(() => parseLabels(text), /at offset \d+/, text);
    assert.throws(() => formatLabels({ 'bad-name': 'x' }), WireFormatError);
  });
});
