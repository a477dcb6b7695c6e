/**
 * Claude Code's own OpenTelemetry export, read: OTLP logs and metrics requests (protobuf or JSON) decoded into
 * one JSON-shaped form, then mapped to what the store keeps.
 *
 * - Logs: the `claude_code.api_request` events, one per API call (session.id, prompt.id, request_id, model,
 *   query_source, cost_usd, tokens by kind, duration_ms, event.timestamp). Other events are accepted and not
 *   kept. An api_request without a session id or a model, or with a token count that is not a non-negative
 *   number, is refused (counted in the response's partial_success).
 * - Metrics: the data points of `claude_code.cost.usage` and `claude_code.token.usage` (delta or cumulative
 *   sums, or gauges), one row per series and time window, so an export sent twice is stored once.
 *
 * The protobuf messages are the parts of opentelemetry-proto (common/v1, resource/v1, logs/v1, metrics/v1,
 * collector/{logs,metrics}/v1) a receiver of these two signals reads; fields it does not read are skipped by
 * the decoder as unknown fields. Without keepCase, protobufjs names fields in lowerCamelCase, which are the
 * OTLP/JSON names, so both encodings end up in the same shape.
 */
import protobuf from 'protobufjs';
import { isObject } from '../types.ts';

const OTLP_RECEIVE_PROTO = `
syntax = "proto3";
package otlpin;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }

message NumberDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  uint32 flags = 8;
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; }
}
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
`;

const root = protobuf.parse(OTLP_RECEIVE_PROTO).root;
const LogsRequest = root.lookupType('otlpin.ExportLogsServiceRequest');
const LogsResponse = root.lookupType('otlpin.ExportLogsServiceResponse');
const MetricsRequest = root.lookupType('otlpin.ExportMetricsServiceRequest');
const MetricsResponse = root.lookupType('otlpin.ExportMetricsServiceResponse');

export type OtlpSignal = 'logs' | 'metrics';
export type OtlpEncoding = 'json' | 'protobuf';

/** A malformed request body (the receiver answers 400 with the message). */
export class OtlpFormatError extends Error {
  override name = 'OtlpFormatError';
}

/** The event and metric names Claude Code exports (the `claude_code.` prefix). */
export const CC_PREFIX = 'claude_code.';
export const API_REQUEST_EVENT = 'api_request';
export const COST_METRIC = 'claude_code.cost.usage';
export const TOKEN_METRIC = 'claude_code.token.usage';

/** An attribute value as read: scalars as themselves (64-bit ints as numbers), arrays and maps as JSON. */
export type AttrValue = string | number | boolean | null;

type Obj = Record<string, unknown>;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function anyValue(v: unknown): AttrValue {
  if (!isObject(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isFinite(n) ? n : null;
  }
  if (v.doubleValue !== undefined) {
    const n = Number(v.doubleValue);
    return Number.isNaN(n) ? null : n;
  }
  if (isObject(v.arrayValue)) return JSON.stringify(list(v.arrayValue.values).map(anyValue));
  if (isObject(v.kvlistValue)) return JSON.stringify(attributes(v.kvlistValue.values));
  if (typeof v.bytesValue === 'string') return v.bytesValue;
  return null;
}

/** OTLP KeyValue list -> plain object (a later duplicate key wins). */
export function attributes(kvs: unknown): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list(kvs)) {
    if (isObject(kv) && typeof kv.key === 'string') out[kv.key] = anyValue(kv.value);
  }
  return out;
}

/**
 * The request body decoded into its OTLP/JSON shape (lowerCamelCase fields, 64-bit integers as decimal
 * strings). Throws OtlpFormatError on a body that is not such a request.
 */
export function decodeOtlp(signal: OtlpSignal, encoding: OtlpEncoding, body: Buffer): Obj {
  if (encoding === 'json') {
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new OtlpFormatError(`body is not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(parsed)) throw new OtlpFormatError(`an OTLP ${signal} request is a JSON object`);
    const top = signal === 'logs' ? 'resourceLogs' : 'resourceMetrics';
    if (parsed[top] !== undefined && !Array.isArray(parsed[top]))
      throw new OtlpFormatError(`${top} must be an array`);
    return parsed;
  }
  const type = signal === 'logs' ? LogsRequest : MetricsRequest;
  try {
    return type.toObject(type.decode(body), { longs: String, bytes: String, defaults: false }) as Obj;
  } catch (err) {
    throw new OtlpFormatError(`invalid protobuf ${type.name}: ${(err as Error).message}`);
  }
}

/** The Export*ServiceResponse for `rejected` refused entries (empty when none), in the request's encoding. */
export function encodeOtlpResponse(
  signal: OtlpSignal,
  encoding: OtlpEncoding,
  rejected: number,
  message: string,
): Buffer {
  const partial =
    rejected > 0 || message !== ''
      ? {
          partialSuccess: {
            [signal === 'logs' ? 'rejectedLogRecords' : 'rejectedDataPoints']: String(rejected),
            errorMessage: message,
          },
        }
      : {};
  if (encoding === 'json') return Buffer.from(JSON.stringify(partial));
  const type = signal === 'logs' ? LogsResponse : MetricsResponse;
  return Buffer.from(type.encode(type.fromObject(partial)).finish());
}

/** One `claude_code.api_request` event, as stored (table otel_requests). */
export interface OtelRequestRow {
  /** request_id, or `<session>:seq:<event.sequence>` for an event without one: an export sent twice is stored once. */
  request_key: string;
  request_id: string | null;
  session_id: string;
  prompt_id: string | null;
  model: string;
  /** The subagent that made the request ('' for the main agent), as Claude Code reports it (agent_id). */
  agent_id: string;
  /** sdk, main, agent:builtin:<type>, auxiliary, ... as Claude Code reports it. */
  query_source: string | null;
  /** The subagent type or name Claude Code attributes the request to, when it does. */
  agent_name: string | null;
  /** ms since epoch. */
  ts: number;
  duration_ms: number | null;
  cost_usd: number | null;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_creation_1h_tokens: number;
  cache_read_tokens: number;
  service_version: string | null;
}

/** One data point of the cost or token metric (table otel_metrics). */
export interface OtelMetricRow {
  metric: string;
  /** The point's attributes as canonical JSON: with start time, what makes a series. */
  series: string;
  start_ns: string;
  time_ns: string;
  session_id: string;
  model: string | null;
  query_source: string | null;
  /** token.usage: input, output, cacheRead, cacheCreation. */
  type: string | null;
  /** 1 for cumulative sums (the latest point of a series is its total), 0 for deltas and gauges. */
  cumulative: number;
  value: number;
  /** ms since epoch (the point's time). */
  ts: number;
}

export interface Mapped<T> {
  rows: T[];
  /** Entries refused (not stored), with the first reason. */
  rejected: number;
  reason: string;
  /** Entries read in all (log records or data points). */
  seen: number;
}

const str = (v: AttrValue | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A token count: a non-negative integer (ints may come as strings); absent is 0; anything else undefined. */
function tokens(v: AttrValue | undefined): number | undefined {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.round(n) : undefined;
}

function num(v: AttrValue | undefined): number | null {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** ns since epoch (decimal string or number) -> ms; undefined when absent or zero. */
function nsToMs(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v);
  if (!/^\d+$/.test(s) || /^0+$/.test(s)) return undefined;
  return s.length > 6 ? Number(s.slice(0, -6)) : 0;
}

function eventName(record: Obj, attrs: Record<string, AttrValue>): string {
  const fromAttr = str(attrs['event.name']);
  if (fromAttr) return fromAttr.startsWith(CC_PREFIX) ? fromAttr.slice(CC_PREFIX.length) : fromAttr;
  const named = typeof record.eventName === 'string' ? record.eventName : '';
  const body =
    isObject(record.body) && typeof record.body.stringValue === 'string' ? record.body.stringValue : '';
  for (const n of [named, body]) if (n.startsWith(CC_PREFIX)) return n.slice(CC_PREFIX.length);
  return '';
}

/** Walks resource -> scope -> item, with the resource's attributes under each item's. */
function* items(
  req: Obj,
  top: string,
  scopes: string,
  entries: string,
): Generator<{ item: Obj; resource: Record<string, AttrValue> }> {
  for (const r of list(req[top])) {
    if (!isObject(r)) continue;
    const resource = attributes(isObject(r.resource) ? r.resource.attributes : undefined);
    for (const s of list(r[scopes])) {
      if (!isObject(s)) continue;
      for (const item of list(s[entries])) if (isObject(item)) yield { item, resource };
    }
  }
}

/** The api_request events of a logs request (the form decodeOtlp returns). */
export function apiRequestsOf(req: Obj): Mapped<OtelRequestRow> {
  const out: Mapped<OtelRequestRow> = { rows: [], rejected: 0, reason: '', seen: 0 };
  const refuse = (why: string) => {
    out.rejected++;
    if (out.reason === '') out.reason = why;
  };
  for (const { item: rec, resource } of items(req, 'resourceLogs', 'scopeLogs', 'logRecords')) {
    out.seen++;
    const a = attributes(rec.attributes);
    if (eventName(rec, a) !== API_REQUEST_EVENT) continue;
    const session = str(a['session.id']);
    const model = str(a.model);
    if (!session) {
      refuse('api_request without session.id');
      continue;
    }
    if (!model) {
      refuse('api_request without model');
      continue;
    }
    const t = {
      input: tokens(a.input_tokens),
      output: tokens(a.output_tokens),
      cacheRead: tokens(a.cache_read_tokens),
      cacheCreation: tokens(a.cache_creation_tokens),
      cacheCreation1h: tokens(a.cache_creation_1h_tokens),
    };
    if (Object.values(t).some((v) => v === undefined)) {
      refuse('api_request with a token count that is not a non-negative number');
      continue;
    }
    const stamp = Date.parse(str(a['event.timestamp']) ?? '');
    const ts = Number.isFinite(stamp)
      ? stamp
      : (nsToMs(rec.timeUnixNano) ?? nsToMs(rec.observedTimeUnixNano) ?? Date.now());
    const requestId = str(a.request_id);
    const seq = num(a['event.sequence']);
    const micros = num(a.cost_usd_micros);
    out.rows.push({
      request_key: requestId ?? `${session}:seq:${seq ?? ts}`,
      request_id: requestId,
      session_id: session,
      prompt_id: str(a['prompt.id']),
      model,
      agent_id: str(a.agent_id) ?? '',
      query_source: str(a.query_source),
      agent_name: str(a['agent.name']) ?? str(a.agent_name),
      ts,
      duration_ms: num(a.duration_ms),
      cost_usd: num(a.cost_usd) ?? (micros !== null ? micros / 1e6 : null),
      input_tokens: t.input ?? 0,
      output_tokens: t.output ?? 0,
      cache_creation_tokens: t.cacheCreation ?? 0,
      cache_creation_1h_tokens: Math.min(t.cacheCreation1h ?? 0, t.cacheCreation ?? 0),
      cache_read_tokens: t.cacheRead ?? 0,
      service_version: str(resource['service.version']),
    });
  }
  return out;
}

/** OTLP AggregationTemporality: 1 delta, 2 cumulative (OTLP/JSON may also spell the enum's name). */
function isCumulative(v: unknown): boolean {
  return v === 2 || v === '2' || v === 'AGGREGATION_TEMPORALITY_CUMULATIVE';
}

function canonical(a: Record<string, AttrValue>): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
  );
}

/** The cost and token data points of a metrics request (the form decodeOtlp returns). */
export function usageMetricsOf(req: Obj): Mapped<OtelMetricRow> {
  const out: Mapped<OtelMetricRow> = { rows: [], rejected: 0, reason: '', seen: 0 };
  for (const { item: metric } of items(req, 'resourceMetrics', 'scopeMetrics', 'metrics')) {
    const data = isObject(metric.sum) ? metric.sum : isObject(metric.gauge) ? metric.gauge : undefined;
    const points = list(data?.dataPoints);
    out.seen += points.length;
    const name = typeof metric.name === 'string' ? metric.name : '';
    if (name !== COST_METRIC && name !== TOKEN_METRIC) continue;
    const cumulative = isObject(metric.sum) && isCumulative(metric.sum.aggregationTemporality) ? 1 : 0;
    for (const p of points) {
      if (!isObject(p)) continue;
      const raw = p.asDouble ?? p.asInt;
      const value = raw === undefined ? Number.NaN : Number(raw);
      const timeMs = nsToMs(p.timeUnixNano);
      if (!Number.isFinite(value) || value < 0 || timeMs === undefined) {
        out.rejected++;
        if (out.reason === '') out.reason = `${name} data point without a non-negative value and a time`;
        continue;
      }
      const a = attributes(p.attributes);
      out.rows.push({
        metric: name,
        series: canonical(a),
        start_ns: String(p.startTimeUnixNano ?? '0'),
        time_ns: String(p.timeUnixNano),
        session_id: str(a['session.id']) ?? '',
        model: str(a.model),
        query_source: str(a.query_source),
        type: str(a.type),
        cumulative,
        value,
        ts: timeMs,
      });
    }
  }
  return out;
}

/** Where the store keeps what the receiver maps (Store implements it). */
export interface OtelSink {
  recordOtelRequests(rows: readonly OtelRequestRow[]): number;
  recordOtelMetrics(rows: readonly OtelMetricRow[]): number;
}

/** Encodes requests for tests and tools that send OTLP (protobuf from the OTLP/JSON shape). */
export function encodeOtlpRequest(signal: OtlpSignal, request: Obj): Buffer {
  const type = signal === 'logs' ? LogsRequest : MetricsRequest;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

/** Decodes an Export*ServiceResponse (tests and clients). */
export function decodeOtlpResponse(signal: OtlpSignal, body: Buffer): Obj {
  const type = signal === 'logs' ? LogsResponse : MetricsResponse;
  return type.toObject(type.decode(body), { longs: String }) as Obj;
}
