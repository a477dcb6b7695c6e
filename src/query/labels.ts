/**
 * The label model (see the header of api.ts): which LogQL labels an event has, where each one lives in the
 * store, and how a store row becomes a log entry with its labels sorted into Loki's three categories.
 *
 * Every label of ours is a column, so any of them may appear in a selector. A pushed foreign line may carry
 * labels of no column of ours (extra_labels: stream labels; extra_metadata: structured metadata); those take
 * precedence over the derived values, as the push API decided when it stored them.
 */
import { ROLLUP_COLUMNS, ROLLUP_PRESENCE } from '../store/index.ts';
import type { Labels } from './api.ts';

export const SERVICE = 'claude-telemetry';

export type LabelCategory = 'stream' | 'metadata';

export interface LabelDef {
  name: string;
  category: LabelCategory;
  /** The events column (and rollup column, when `rollup`) holding the value. */
  column: string;
  /** SQL giving the label's text value; NULL or '' when the event has no such label. */
  sql: string;
  /** Name of an index on (column, ts), for an equality matcher to drive the scan. */
  index?: string;
  /** The rollup keeps the label's values (`rollup`), or only whether events have it (`presence` column). */
  rollup: boolean;
  presence?: string;
}

const OUTSIDE_SQL = "CASE outside_scope WHEN 1 THEN 'true' WHEN 0 THEN 'false' END";

function def(name: string, category: LabelCategory, column: string, index?: string): LabelDef {
  const d: LabelDef = {
    name,
    category,
    column,
    sql: column === 'outside_scope' ? OUTSIDE_SQL : column,
    rollup: (ROLLUP_COLUMNS as readonly string[]).includes(column),
  };
  if (index) d.index = index;
  const presence = Object.entries(ROLLUP_PRESENCE).find(([, col]) => col === column)?.[0];
  if (presence) d.presence = presence;
  return d;
}

/** Our labels, stream (indexed) labels first; `service` is constant and has no column. */
export const LABEL_DEFS: readonly LabelDef[] = [
  { name: 'service', category: 'stream', column: '', sql: `'${SERVICE}'`, rollup: true },
  def('host', 'stream', 'host'),
  def('project', 'stream', 'project_name', 'events_project_ts'),
  def('event_type', 'stream', 'event_type', 'events_type_ts'),
  def('level', 'stream', 'level'),
  def('session_id', 'metadata', 'session_id', 'events_session_ts'),
  def('tool', 'metadata', 'tool_name', 'events_tool_ts'),
  def('tool_use_id', 'metadata', 'tool_use_id'),
  def('agent_id', 'metadata', 'agent_id'),
  def('agent_type', 'metadata', 'agent_type'),
  def('hook_event', 'metadata', 'hook_event', 'events_hook_ts'),
  def('scope', 'metadata', 'scope'),
  def('outside_project_scope', 'metadata', 'outside_scope'),
  def('user', 'metadata', 'user_id'),
];

export const LABELS_BY_NAME: ReadonlyMap<string, LabelDef> = new Map(LABEL_DEFS.map((d) => [d.name, d]));

/** The seed's names, accepted in selectors and label filters when the entry has no label of that name. */
export const ALIASES: Readonly<Record<string, string>> = { event: 'event_type', session: 'session_id' };

export const ERROR_LABEL = '__error__';
export const ERROR_DETAILS_LABEL = '__error_details__';

/** The columns a log entry is read with, in this order. */
export const ENTRY_COLUMNS = [
  'seq',
  'ts',
  'ts_ns',
  'line',
  'line_bytes',
  'extra_labels',
  'extra_metadata',
  ...LABEL_DEFS.slice(1).map((d) => d.column),
] as const;

const FIRST_LABEL_COLUMN = 7;

/** A log line on its way through a pipeline. */
export interface Entry {
  seq: number;
  /** Event time, ms. */
  ts: number;
  /** The pushed ns timestamp when there was one. */
  tsNs: string | null;
  line: string;
  /** Bytes of `line`, or -1 once line_format changed it (recomputed on demand). */
  bytes: number;
  stream: Labels;
  metadata: Labels;
  /** Labels made by the pipeline (| json, label_format, errors). */
  parsed: Labels;
}

function labelValue(d: LabelDef, v: unknown): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (d.column === 'outside_scope') return v === 1 ? 'true' : v === 0 ? 'false' : undefined;
  return String(v);
}

/** A row read with ENTRY_COLUMNS (as an array) -> an entry. */
export function entryOf(row: unknown[]): Entry {
  const stream: Labels = { service: SERVICE };
  const metadata: Labels = {};
  for (let i = 1; i < LABEL_DEFS.length; i++) {
    const d = LABEL_DEFS[i] as LabelDef;
    const v = labelValue(d, row[FIRST_LABEL_COLUMN + i - 1]);
    if (v === undefined) continue;
    if (d.category === 'stream') stream[d.name] = v;
    else metadata[d.name] = v;
  }
  const extraLabels = row[5] as string | null;
  const extraMetadata = row[6] as string | null;
  if (extraMetadata !== null) overlay(JSON.parse(extraMetadata) as Labels, metadata, stream);
  if (extraLabels !== null) overlay(JSON.parse(extraLabels) as Labels, stream, metadata);
  return {
    seq: row[0] as number,
    ts: row[1] as number,
    tsNs: row[2] as string | null,
    line: (row[3] as string | null) ?? '',
    bytes: (row[4] as number | null) ?? Buffer.byteLength((row[3] as string | null) ?? ''),
    stream,
    metadata,
    parsed: {},
  };
}

/** Pushed labels win over derived ones, and move to the category they were pushed in. */
function overlay(from: Labels, into: Labels, other: Labels): void {
  for (const [k, v] of Object.entries(from)) {
    if (v === '') continue;
    into[k] = v;
    delete other[k];
  }
}

/** The value of a label on an entry ('' when absent). */
export function labelOf(e: Entry, name: string): string {
  return e.parsed[name] ?? e.metadata[name] ?? e.stream[name] ?? '';
}

export function hasLabel(e: Entry, name: string): boolean {
  return labelOf(e, name) !== '';
}

export function setParsed(e: Entry, name: string, value: string): void {
  delete e.stream[name];
  delete e.metadata[name];
  e.parsed[name] = value;
}

export function deleteLabel(e: Entry, name: string): void {
  delete e.stream[name];
  delete e.metadata[name];
  delete e.parsed[name];
}

/** All labels of an entry in one set (what Loki shows without categorize-labels). */
export function allLabels(e: Entry): Labels {
  const out: Labels = {};
  for (const src of [e.stream, e.metadata, e.parsed]) {
    for (const k in src) {
      const v = src[k] as string;
      if (v !== '') out[k] = v;
    }
  }
  return out;
}

/** A label set's identity: its pairs sorted by name. */
export function labelsKey(l: Labels): string {
  const names = Object.keys(l).sort();
  let key = '';
  for (const n of names) key += `${n}\x00${l[n]}\x01`;
  return key;
}

/** A label set sorted by name with its identity, in one pass. */
export function canonicalLabels(l: Labels): { labels: Labels; key: string } {
  const labels: Labels = {};
  let key = '';
  for (const n of Object.keys(l).sort()) {
    const v = l[n] as string;
    labels[n] = v;
    key += `${n}\x00${v}\x01`;
  }
  return { labels, key };
}

/** Labels sorted by name (as Loki and Prometheus print them). */
export function sortedLabels(l: Labels): Labels {
  const out: Labels = {};
  for (const n of Object.keys(l).sort()) out[n] = l[n] as string;
  return out;
}

/** `{a="b", c="d"}` */
export function formatLabels(l: Labels): string {
  return `{${Object.keys(l)
    .sort()
    .map((k) => `${k}=${JSON.stringify(l[k])}`)
    .join(', ')}}`;
}
