/**
 * Pushed Loki entries -> events.
 *
 * A line that is one of our own event JSONs (another collector forwarding to this one) is that event, id
 * included. Any other line becomes an event of type `log` whose stored line is the pushed line verbatim:
 * labels that name a field of ours set that field, the others are kept in `extra_labels` (stream labels) or
 * `extra_metadata` (structured metadata). Its id hashes the stream labels, the timestamp and the line, so a
 * retried push is recognised as a duplicate.
 */
import { createHash } from 'node:crypto';
import { TELEMETRY_VERSION } from '../collector/pipeline.ts';
import { timeOrderedId } from '../ingest/index.ts';
import { isObject, type Level, type TelemetryEvent } from '../types.ts';
import { BadRequest } from './http-errors.ts';

export type PushLabels = Record<string, string>;

/** One decoded push stream (the shape of the wire codec's WireStream). */
export interface PushStream {
  labels: PushLabels;
  entries: { timestampNs: bigint; line: string; structuredMetadata?: PushLabels }[];
}

/** Loki's defaults for structured metadata per line. */
export const MAX_METADATA_ENTRIES = 128;
export const MAX_METADATA_BYTES = 64 * 1024;

export const OUR_SERVICE = 'claude-telemetry';
export const PUSHED_EVENT_TYPE = 'log';
/** `metadata.scope` of a pushed line when no `scope` label says otherwise. */
export const PUSHED_SCOPE = 'push';

const LEVELS = new Set<string>(['INFO', 'WARN', 'ERROR']);

/** Sets the field a label of ours maps onto; false when the value does not fit (it stays an extra label). */
type FieldSetter = (ev: TelemetryEvent, value: string) => boolean;

const OUR_LABELS: Record<string, FieldSetter> = {
  service: (_ev, v) => v === OUR_SERVICE,
  host: metadataField('host'),
  user: metadataField('user_id'),
  scope: metadataField('scope'),
  project: field('project_name'),
  event_type: field('event_type'),
  event: field('event_type'),
  hook_event: field('hook_event'),
  session_id: field('session_id'),
  session: field('session_id'),
  tool: field('tool_name'),
  tool_use_id: field('tool_use_id'),
  agent_id: field('agent_id'),
  agent_type: field('agent_type'),
  level: (ev, v) => {
    if (LEVELS.has(v)) {
      ev.level = v as Level;
      return true;
    }
    ev.level = levelOf(v);
    return false;
  },
  outside_project_scope: (ev, v) => {
    if (v !== 'true' && v !== 'false') return false;
    ev.action_details.outside_project_scope = v === 'true';
    return true;
  },
};

type StringField =
  | 'project_name'
  | 'event_type'
  | 'hook_event'
  | 'session_id'
  | 'tool_name'
  | 'tool_use_id'
  | 'agent_id'
  | 'agent_type';

function field(name: StringField): FieldSetter {
  return (ev, v) => {
    ev[name] = v;
    return true;
  };
}

function metadataField(name: 'host' | 'user_id' | 'scope'): FieldSetter {
  return (ev, v) => {
    ev.metadata[name] = v;
    return true;
  };
}

/** Our level for a foreign level name (`error`, `warning`, `debug`...). */
export function levelOf(name: string): Level {
  const n = name.toLowerCase();
  if (/^(err|error|crit|critical|fatal|panic|alert|emerg|emergency)$/.test(n)) return 'ERROR';
  if (n === 'warn' || n === 'warning') return 'WARN';
  return 'INFO';
}

/** True when `v` has the shape of one of our events (what the audit log and our Loki sink carry). */
export function isOwnEvent(v: unknown): v is TelemetryEvent {
  if (!isObject(v)) return false;
  return (
    typeof v.id === 'string' &&
    v.id !== '' &&
    v.id.length <= 256 &&
    typeof v.timestamp === 'string' &&
    Number.isFinite(Date.parse(v.timestamp)) &&
    typeof v.level === 'string' &&
    LEVELS.has(v.level) &&
    typeof v.event_type === 'string' &&
    typeof v.hook_event === 'string' &&
    typeof v.session_id === 'string' &&
    typeof v.project_path === 'string' &&
    typeof v.project_name === 'string' &&
    (v.tool_name === null || typeof v.tool_name === 'string') &&
    isObject(v.action_details) &&
    isObject(v.metadata) &&
    typeof v.metadata.host === 'string' &&
    isObject(v.raw_input) &&
    (v.log_line === undefined || typeof v.log_line === 'string')
  );
}

/** Our event in a pushed line, or undefined (cheap for lines that are not JSON objects). */
function ownEventIn(line: string): TelemetryEvent | undefined {
  if (line.charCodeAt(0) !== 0x7b /* { */) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isOwnEvent(v) ? v : undefined;
}

/** Stable text of a label set (sorted names), hashed into pushed-line ids. */
function labelKey(labels: PushLabels): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

export function pushedLineId(labels: PushLabels, timestampNs: bigint, line: string): string {
  return pushedLineIdWithKey(labelKey(labels), timestampNs, line);
}

function pushedLineIdWithKey(key: string, timestampNs: bigint, line: string): string {
  const hash = createHash('sha256')
    .update(`loki-push-v1\n${key}\n${timestampNs}\n`)
    .update(line)
    .digest('hex');
  return timeOrderedId(Number(timestampNs / 1_000_000n), hash);
}

function isoOf(timestampNs: bigint, where: string): string {
  const ms = Number(timestampNs / 1_000_000n);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime()) || timestampNs < 0n) {
    throw new BadRequest(`${where}: timestamp ${timestampNs} is out of range`);
  }
  return d.toISOString();
}

function applyLabels(ev: TelemetryEvent, labels: PushLabels, extra: 'extra_labels' | 'extra_metadata'): void {
  let kept: PushLabels | undefined;
  for (const name of Object.keys(labels)) {
    const value = labels[name] as string;
    const set = OUR_LABELS[name];
    if (set?.(ev, value)) continue;
    kept ??= {};
    kept[name] = value;
  }
  if (kept) ev[extra] = kept;
}

/** The event for a foreign pushed line. */
export function pushedLineEvent(
  labels: PushLabels,
  entry: PushStream['entries'][number],
  where: string,
  key = labelKey(labels),
): TelemetryEvent {
  const ev: TelemetryEvent = {
    id: pushedLineIdWithKey(key, entry.timestampNs, entry.line),
    timestamp: isoOf(entry.timestampNs, where),
    level: 'INFO',
    event_type: PUSHED_EVENT_TYPE,
    hook_event: '',
    session_id: '',
    project_path: '',
    project_name: '',
    tool_name: null,
    action_details: {},
    metadata: { telemetry_version: TELEMETRY_VERSION, user_id: '', host: '', scope: PUSHED_SCOPE },
    raw_input: {},
    log_line: entry.line,
    timestamp_ns: entry.timestampNs.toString(),
  };
  applyLabels(ev, labels, 'extra_labels');
  if (entry.structuredMetadata) applyLabels(ev, entry.structuredMetadata, 'extra_metadata');
  return ev;
}

function checkMetadata(md: PushLabels | undefined, where: string): void {
  if (!md) return;
  const names = Object.keys(md);
  if (names.length > MAX_METADATA_ENTRIES) {
    throw new BadRequest(
      `${where}: structured metadata has ${names.length} entries, the limit is ${MAX_METADATA_ENTRIES}`,
    );
  }
  let bytes = 0;
  for (const n of names) bytes += Buffer.byteLength(n) + Buffer.byteLength(md[n] as string);
  if (bytes > MAX_METADATA_BYTES) {
    throw new BadRequest(
      `${where}: structured metadata is ${bytes} bytes, the limit is ${MAX_METADATA_BYTES}`,
    );
  }
}

/** All events of a push request, in request order. Throws BadRequest naming the stream and entry at fault. */
export function eventsOfPush(streams: readonly PushStream[]): TelemetryEvent[] {
  const events: TelemetryEvent[] = [];
  streams.forEach((s, i) => {
    if (Object.keys(s.labels).length === 0) {
      throw new BadRequest(`streams[${i}]: at least one label pair is required per stream`);
    }
    const key = labelKey(s.labels);
    s.entries.forEach((entry, j) => {
      const where = `streams[${i}].values[${j}]`;
      checkMetadata(entry.structuredMetadata, where);
      events.push(ownEventIn(entry.line) ?? pushedLineEvent(s.labels, entry, where, key));
    });
  });
  return events;
}
