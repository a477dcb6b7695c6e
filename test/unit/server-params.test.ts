import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpError } from '../../src/server/http-errors.ts';
import {
  bounds,
  defaultStepMs,
  delayForParam,
  directionParam,
  limitParam,
  Params,
  parsePromDuration,
  parseSecondsOrDurationMs,
  parseTimestampNs,
  stepParamMs,
  timestampParam,
} from '../../src/server/params.ts';

const p = (query: string, body?: string) =>
  new Params(
    body === undefined
      ? [new URLSearchParams(query)]
      : [new URLSearchParams(body), new URLSearchParams(query)],
  );

function badRequest(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, `expected an HttpError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('timestamps as Loki reads them', () => {
  test('integers: up to 1e10 are seconds, above are nanoseconds', () => {
    assert.equal(parseTimestampNs('1736000000'), 1_736_000_000_000_000_000n);
    assert.equal(parseTimestampNs('1736000000123456789'), 1_736_000_000_123_456_789n);
    // Grafana's health check sends time=4000000000 (4 s in ns); Loki takes it as seconds.
    assert.equal(parseTimestampNs('4000000000'), 4_000_000_000_000_000_000n);
    assert.equal(parseTimestampNs('10000000001'), 10_000_000_001n);
  });

  test('float seconds keep milliseconds; a huge float is nanoseconds', () => {
    assert.equal(parseTimestampNs('1736000000.123456'), 1_736_000_000_123_000_000n);
    assert.equal(parseTimestampNs('1.5'), 1_500_000_000n);
    assert.equal(parseTimestampNs('17360000001234.5'), 17_360_000_001_234n);
  });

  test('RFC3339 with fraction and offset, exact to the nanosecond', () => {
    assert.equal(parseTimestampNs('2025-01-04T14:13:20Z'), 1_736_000_000_000_000_000n);
    assert.equal(parseTimestampNs('2025-01-04T14:13:20.123456789Z'), 1_736_000_000_123_456_789n);
    assert.equal(parseTimestampNs('2025-01-04T16:13:20.5+02:00'), 1_736_000_000_500_000_000n);
    assert.equal(parseTimestampNs('2025-01-04T09:13:20-05:00'), 1_736_000_000_000_000_000n);
  });

  test('garbage and impossible dates are refused', () => {
    for (const bad of [
      'abc',
      '2025-02-30T00:00:00Z',
      '2025-01-04 14:13:20',
      '1e',
      'NaN',
      '99999999999999999999',
    ]) {
      assert.equal(parseTimestampNs(bad), undefined, bad);
    }
  });

  test('an unparsable parameter names itself', () => {
    badRequest(() => timestampParam(p('start=yesterday'), 'start', 0n), /could not parse 'start' parameter/);
    badRequest(() => bounds(p('end=soon')), /'end'/);
  });
});

describe('durations', () => {
  test('Prometheus durations', () => {
    assert.equal(parsePromDuration('5m'), 300_000);
    assert.equal(parsePromDuration('1h30m'), 5_400_000);
    assert.equal(parsePromDuration('15000ms'), 15_000);
    assert.equal(parsePromDuration('1d'), 86_400_000);
    assert.equal(parsePromDuration('0'), 0);
    assert.equal(parsePromDuration('5x'), undefined);
    assert.equal(parsePromDuration('m5'), undefined);
    assert.equal(parsePromDuration(''), undefined);
  });

  test('step: float seconds or a duration', () => {
    assert.equal(parseSecondsOrDurationMs('15'), 15_000);
    assert.equal(parseSecondsOrDurationMs('0.5'), 500);
    assert.equal(parseSecondsOrDurationMs('15000ms'), 15_000);
    assert.equal(parseSecondsOrDurationMs('1m'), 60_000);
    assert.equal(parseSecondsOrDurationMs('fast'), undefined);
  });
});

describe('bounds', () => {
  const now = 1_736_000_000_000_000_000n;
  const hour = 3_600_000_000_000n;

  test('defaults: the last hour up to now', () => {
    assert.deepEqual(bounds(p(''), now), { start: now - hour, end: now });
  });

  test('since moves the default start; an explicit start wins', () => {
    assert.deepEqual(bounds(p('since=5m'), now), { start: now - 300_000_000_000n, end: now });
    assert.deepEqual(bounds(p('since=5m&start=1736000000'), now).start, now);
  });

  test('an end in the future does not push the default start into the future', () => {
    const b = bounds(p(`end=${now + 10n * hour}`), now);
    assert.equal(b.start, now - hour);
    assert.equal(b.end, now + 10n * hour);
  });

  test('a bad since is named', () => {
    badRequest(() => bounds(p('since=forever'), now), /could not parse 'since' parameter/);
  });
});

describe('limit, direction, step, delay_for', () => {
  test('defaults', () => {
    assert.equal(limitParam(p('')), 100);
    assert.equal(directionParam(p('')), 'backward');
    assert.equal(delayForParam(p('')), 0);
  });

  test('values and errors', () => {
    assert.equal(limitParam(p('limit=1000')), 1000);
    badRequest(() => limitParam(p('limit=0')), /limit must be a positive value/);
    badRequest(() => limitParam(p('limit=ten')), /'limit'/);
    assert.equal(directionParam(p('direction=FORWARD')), 'forward');
    badRequest(() => directionParam(p('direction=sideways')), /invalid direction 'sideways'/);
    assert.equal(delayForParam(p('delay_for=5')), 5);
    badRequest(() => delayForParam(p('delay_for=6')), /delay_for can't be greater than 5/);
  });

  test('step defaults to range/250 in whole seconds, at least 1 s', () => {
    const hour = { start: 0n, end: 3_600_000_000_000n };
    assert.equal(defaultStepMs(hour), 14_000);
    assert.equal(defaultStepMs({ start: 0n, end: 1_000_000_000n }), 1000);
    assert.equal(stepParamMs(p(''), hour), 14_000);
    assert.equal(stepParamMs(p('step=60000ms'), hour), 60_000);
    badRequest(() => stepParamMs(p('step=0'), hour), /zero or negative query resolution step/);
    badRequest(() => stepParamMs(p('step=1ms'), hour), /11,000 points/);
    badRequest(() => stepParamMs(p('step=often'), hour), /could not parse 'step' parameter/);
  });

  test('a form body wins over the URL query, as in Go', () => {
    assert.equal(limitParam(p('limit=5', 'limit=7')), 7);
    assert.deepEqual(p('match[]={a="1"}', 'match[]={b="2"}').getAll('match[]'), ['{b="2"}', '{a="1"}']);
  });
});
