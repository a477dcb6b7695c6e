/**
 * How an event is labelled remotely, the same split the embedded store exposes (see src/query/api.ts):
 * a few bounded labels index the stream; unbounded ones (session, tool use, agent ids) ride as structured
 * metadata (Loki) or log attributes (OTLP), where they cost no index cardinality.
 */
import type { AuditEntry } from '../audit/index.ts';
import { canonicalJson } from '../audit/index.ts';
import type { TelemetryEvent } from '../types.ts';

export const SERVICE_NAME = 'claude-telemetry';

export type FieldMap = Record<string, string>;

function put(out: FieldMap, name: string, value: unknown): void {
  if (typeof value === 'string' && value !== '') out[name] = value;
}

/** Indexed labels: service, host, project, event_type, level (empty values left out, as Loki does). */
export function streamLabels(e: TelemetryEvent): FieldMap {
  const out: FieldMap = { service: SERVICE_NAME };
  put(out, 'host', e.metadata?.host);
  put(out, 'project', e.project_name);
  put(out, 'event_type', e.event_type);
  put(out, 'level', e.level);
  return out;
}

/** Structured metadata: the per-event labels that must not become streams. */
export function structuredMetadata(e: TelemetryEvent): FieldMap {
  const out: FieldMap = {};
  put(out, 'session_id', e.session_id);
  put(out, 'tool', e.tool_name);
  put(out, 'tool_use_id', e.tool_use_id);
  put(out, 'agent_id', e.agent_id);
  put(out, 'agent_type', e.agent_type);
  put(out, 'hook_event', e.hook_event);
  put(out, 'scope', e.metadata?.scope);
  out.outside_project_scope = e.action_details?.outside_project_scope === true ? 'true' : 'false';
  put(out, 'user', e.metadata?.user_id);
  return out;
}

/** The event's hook time in ns (the timestamp has ms precision). */
export function eventTimeNs(e: TelemetryEvent): bigint {
  const ms = Date.parse(e.timestamp);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`event ${e.id} has no usable timestamp`);
  return BigInt(ms) * 1_000_000n;
}

/** The log line: the event's canonical JSON as the audit log holds it (identical on every redelivery). */
export function eventLine(entry: AuditEntry): string {
  return entry.eventJson ?? canonicalJson(entry.event);
}
