/**
 * OTLP/HTTP logs export (`POST /v1/logs`, ExportLogsServiceRequest) in protobuf or JSON, both gzip-compressed.
 * Resource per host (service.name, host.name); each record carries the hook time in ns, the audit append time
 * as observed time, severity from the level, the event JSON as body and the labels as attributes, event_id
 * included so a backend can drop a redelivered record.
 */
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { AuditEntry } from '../audit/index.ts';
import type { SinkConfig } from './config.ts';
import { eventLine, eventTimeNs, SERVICE_NAME, streamLabels, structuredMetadata } from './event-labels.ts';
import { authHeaders, type EncodedRequest, endpoint, USER_AGENT } from './http.ts';

export const OTLP_LOGS_PATH = '/v1/logs';

// opentelemetry-proto logs/v1, common/v1, resource/v1 and collector/logs/v1, the fields this exporter uses.
// Without keepCase, protobufjs names fields in lowerCamelCase: exactly the OTLP/JSON field names.
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  fixed64 observed_time_unix_nano = 11;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
`;

const otlpRoot = protobuf.parse(OTLP_PROTO).root;
export const ExportLogsServiceRequest = otlpRoot.lookupType('otlp.ExportLogsServiceRequest');
const ExportLogsServiceResponse = otlpRoot.lookupType('otlp.ExportLogsServiceResponse');

/** OTel SeverityNumber: INFO 9, WARN 13, ERROR 17. */
const SEVERITY: Record<string, number> = { INFO: 9, WARN: 13, ERROR: 17 };

interface OtlpKeyValue {
  key: string;
  value: { stringValue: string };
}

interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: OtlpKeyValue[];
}

/** The request in OTLP/JSON form (int64 as decimal strings, enums as numbers); protobuf is made from it. */
export interface OtlpLogsRequest {
  resourceLogs: {
    resource: { attributes: OtlpKeyValue[] };
    scopeLogs: { scope: { name: string }; logRecords: OtlpLogRecord[] }[];
  }[];
}

function attributes(fields: Record<string, string>): OtlpKeyValue[] {
  return Object.entries(fields).map(([key, v]) => ({ key, value: { stringValue: v } }));
}

export function toOtlpLogs(entries: readonly AuditEntry[]): OtlpLogsRequest {
  const byHost = new Map<string, OtlpLogRecord[]>();
  for (const entry of entries) {
    const e = entry.event;
    const { service: _service, host = '', ...labels } = streamLabels(e);
    const observedMs = Date.parse(entry.ts);
    const record: OtlpLogRecord = {
      timeUnixNano: eventTimeNs(e).toString(),
      observedTimeUnixNano: (BigInt(Number.isFinite(observedMs) ? observedMs : 0) * 1_000_000n).toString(),
      severityNumber: SEVERITY[e.level] ?? 9,
      severityText: e.level,
      body: { stringValue: eventLine(entry) },
      attributes: attributes({ ...labels, ...structuredMetadata(e), event_id: e.id }),
    };
    const records = byHost.get(host);
    if (records) records.push(record);
    else byHost.set(host, [record]);
  }
  return {
    resourceLogs: [...byHost].map(([host, logRecords]) => ({
      resource: {
        attributes: attributes(
          host ? { 'service.name': SERVICE_NAME, 'host.name': host } : { 'service.name': SERVICE_NAME },
        ),
      },
      scopeLogs: [{ scope: { name: SERVICE_NAME }, logRecords }],
    })),
  };
}

export function encodeOtlpRequest(sink: SinkConfig, entries: readonly AuditEntry[]): EncodedRequest {
  const request = toOtlpLogs(entries);
  const json = sink.encoding === 'json';
  const raw = json
    ? Buffer.from(JSON.stringify(request))
    : Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(request)).finish());
  return {
    url: endpoint(sink.url, OTLP_LOGS_PATH),
    body: gzipSync(raw),
    headers: {
      ...sink.headers,
      'user-agent': USER_AGENT,
      ...authHeaders(sink.auth),
      'content-type': json ? 'application/json' : 'application/x-protobuf',
      'content-encoding': 'gzip',
    },
  };
}

/** Records the receiver refused inside a 200 (OTLP partial success), or null when it took everything. */
export function otlpRejected(
  body: Buffer,
  contentType: string,
): { rejected: number; message: string } | null {
  if (body.length === 0) return null;
  try {
    const parsed = contentType.includes('json')
      ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>)
      : (ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(body), {
          longs: String,
        }) as Record<string, unknown>);
    const partial = parsed.partialSuccess as
      | { rejectedLogRecords?: string | number; errorMessage?: string }
      | undefined;
    const rejected = Number(partial?.rejectedLogRecords ?? 0);
    if (rejected > 0 || partial?.errorMessage) return { rejected, message: partial?.errorMessage ?? '' };
  } catch {
    // A body we cannot read is not a refusal: the status code already said success.
  }
  return null;
}
