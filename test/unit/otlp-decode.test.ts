/**
 * Decoding Claude Code's OTLP export: the protobuf and JSON bodies Claude Code 2.1.329 sent (fixtures),
 * both encodings of one request mapping to the same rows, refused entries, metric points, and the
 * response messages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  apiRequestsOf,
  decodeOtlp,
  decodeOtlpResponse,
  encodeOtlpRequest,
  encodeOtlpResponse,
  OtlpFormatError,
  usageMetricsOf,
} from '../../src/usage/otel.ts';
import { REPO } from '../helpers.ts';
import { apiRequestRecord, logsRequest } from './otlp-requests.ts';

const FIX = join(REPO, 'test', 'fixtures', 'otlp');
const fixture = (name: string) => readFileSync(join(FIX, name));

const s = (key: string, v: string) => ({ key, value: { stringValue: v } });

describe('OTLP logs from Claude Code 2.1.329', () => {
  test('protobuf export: every api_request, the subagent ones with its agent id', () => {
    const a = apiRequestsOf(decodeOtlp('logs', 'protobuf', fixture('cc-2.1.329-logs-1.pb')));
    const b = apiRequestsOf(decodeOtlp('logs', 'protobuf', fixture('cc-2.1.329-logs-2.pb')));
    assert.equal(a.seen, 17);
    assert.equal(a.rejected + b.rejected, 0);
    const rows = [...a.rows, ...b.rows];
    assert.equal(rows.length, 5);
    assert.equal(new Set(rows.map((r) => r.session_id)).size, 1);
    assert.ok(rows.every((r) => r.request_id?.startsWith('req_') && r.request_key === r.request_id));
    const sub = rows.filter((r) => r.agent_id !== '');
    assert.equal(sub.length, 2);
    assert.ok(sub.every((r) => r.agent_name === 'general-purpose' && r.query_source?.startsWith('agent:')));
    const first = rows[0]!;
    assert.equal(first.model, 'claude-opus-5-5');
    assert.equal(first.input_tokens, 2592);
    assert.equal(first.output_tokens, 37);
    assert.equal(first.cost_usd, 0.011108);
    assert.equal(first.duration_ms, 91);
    assert.equal(first.query_source, 'sdk');
    assert.equal(first.service_version, '2.1.329');
    assert.equal(first.ts, Date.parse('2026-11-21T13:12:04.288Z'));
    assert.ok(first.prompt_id);
  });

  test('JSON export maps the same way', () => {
    const m = apiRequestsOf(decodeOtlp('logs', 'json', fixture('cc-2.1.329-logs.json')));
    assert.equal(m.rows.length, 2);
    assert.deepEqual(
      m.rows.map((r) => [r.input_tokens, r.output_tokens, r.agent_id]),
      [
        [2592, 29],
        [2653, 8],
      ].map(([x, y]) => [x, y, '']),
    );
  });

  test('one request in both encodings gives the same rows', () => {
    const req = logsRequest([
      apiRequestRecord({ requestId: 'req_1', input: '12345678901', cacheRead: 7 }),
      apiRequestRecord({ requestId: 'req_2', agentId: 'a1', cacheCreation: 50 }),
    ]);
    const viaJson = apiRequestsOf(decodeOtlp('logs', 'json', Buffer.from(JSON.stringify(req))));
    const viaPb = apiRequestsOf(decodeOtlp('logs', 'protobuf', encodeOtlpRequest('logs', req)));
    assert.deepEqual(viaPb, viaJson);
    assert.equal(viaJson.rows[0]?.input_tokens, 12345678901);
    assert.equal(viaJson.rows[1]?.agent_id, 'a1');
    assert.equal(viaJson.rows[1]?.cache_creation_tokens, 50);
  });

  test('refused: no session id, no model, a negative token count; other events pass untouched', () => {
    const req = logsRequest([
      apiRequestRecord({ session: '' }),
      apiRequestRecord({ model: '' }),
      apiRequestRecord({ input: -5 }),
      apiRequestRecord({ requestId: 'req_ok' }),
      { body: { stringValue: 'claude_code.tool_result' }, attributes: [s('event.name', 'tool_result')] },
    ]);
    const m = apiRequestsOf(decodeOtlp('logs', 'json', Buffer.from(JSON.stringify(req))));
    assert.equal(m.seen, 5);
    assert.equal(m.rejected, 3);
    assert.match(m.reason, /session\.id/);
    assert.deepEqual(
      m.rows.map((r) => r.request_id),
      ['req_ok'],
    );
  });

  test('an event without a request id is keyed by session and sequence', () => {
    const m = apiRequestsOf(logsRequest([apiRequestRecord({ seq: 9 })]));
    assert.equal(m.rows[0]?.request_id, null);
    assert.equal(m.rows[0]?.request_key, 'sess-1:seq:9');
  });

  test('malformed bodies are OtlpFormatError', () => {
    assert.throws(() => decodeOtlp('logs', 'json', Buffer.from('{oops')), OtlpFormatError);
    assert.throws(() => decodeOtlp('logs', 'json', Buffer.from('[1]')), OtlpFormatError);
    assert.throws(() => decodeOtlp('logs', 'json', Buffer.from('{"resourceLogs":5}')), OtlpFormatError);
    assert.throws(() => decodeOtlp('logs', 'protobuf', Buffer.from([0x0a, 0xff, 0xff])), OtlpFormatError);
  });
});

describe('OTLP metrics from Claude Code 2.1.329', () => {
  test('cost and token points by session, model, query source and type (deltas)', () => {
    const m = usageMetricsOf(decodeOtlp('metrics', 'protobuf', fixture('cc-2.1.329-metrics.pb')));
    assert.equal(m.rejected, 0);
    const cost = m.rows.filter((r) => r.metric === 'claude_code.cost.usage');
    assert.deepEqual(cost.map((r) => r.query_source).sort(), ['main', 'subagent']);
    const input = m.rows.filter((r) => r.type === 'input').reduce((a, r) => a + r.value, 0);
    // The five api_request events of the same run: 2592 + 2927 + 2180 + 2667 + 3295.
    assert.equal(input, 13661);
    assert.ok(m.rows.every((r) => r.cumulative === 0 && r.session_id !== ''));
    assert.ok(!m.rows.some((r) => r.metric === 'claude_code.session.count'));
  });

  test('JSON export too', () => {
    const m = usageMetricsOf(decodeOtlp('metrics', 'json', fixture('cc-2.1.329-metrics.json')));
    const out = m.rows.find((r) => r.type === 'output');
    assert.equal(out?.value, 37);
  });
});

describe('OTLP responses', () => {
  test('full success is an empty message; partial success names the refused count', () => {
    assert.equal(encodeOtlpResponse('logs', 'protobuf', 0, '').length, 0);
    assert.equal(encodeOtlpResponse('metrics', 'json', 0, '').toString(), '{}');
    const pb = decodeOtlpResponse('logs', encodeOtlpResponse('logs', 'protobuf', 3, 'why'));
    assert.deepEqual(pb, { partialSuccess: { rejectedLogRecords: '3', errorMessage: 'why' } });
    const js = JSON.parse(encodeOtlpResponse('metrics', 'json', 2, 'bad').toString());
    assert.deepEqual(js, { partialSuccess: { rejectedDataPoints: '2', errorMessage: 'bad' } });
  });
});
