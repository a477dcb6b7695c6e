/**
 * Log queries: rows read newest or oldest first through the planned index (SQLite never sorts, so rows
 * stream and the scan stops at the limit), the JavaScript stages applied, and entries grouped into streams.
 */
import type { Store } from '../store/index.ts';
import type { Labels, StreamResult, StreamValue } from './api.ts';
import { allLabels, canonicalLabels, ENTRY_COLUMNS, type Entry, entryOf, sortedLabels } from './labels.ts';
import { nsString } from './literals.ts';
import type { Deadline, SourcePlan } from './plan.ts';

export interface ReadStats {
  lines: number;
  bytes: number;
}

export interface LogRead {
  /** Event times, ms: [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  limit: number;
  direction: 'forward' | 'backward';
}

/** Rows of a source plan in time order, as entries (before the JavaScript stages). */
export function* scanEntries(
  store: Store,
  plan: SourcePlan,
  range: { afterMs: number; toMs: number; inclusiveFrom?: boolean },
  order: 'ASC' | 'DESC',
  deadline: Deadline,
  stats: ReadStats,
): Generator<Entry> {
  const sql =
    `SELECT ${ENTRY_COLUMNS.join(', ')} FROM events INDEXED BY ${plan.index}` +
    ` WHERE ts ${range.inclusiveFrom ? '>=' : '>'} ? AND ts ${range.inclusiveFrom ? '<' : '<='} ? AND (${plan.where.sql})` +
    ` ORDER BY ts ${order}, seq ${order}`;
  const stmt = store.select(sql).raw(true);
  for (const row of stmt.iterate(range.afterMs, range.toMs, ...plan.where.params) as Iterable<unknown[]>) {
    deadline.tick();
    const e = entryOf(row);
    stats.lines++;
    stats.bytes += e.bytes;
    yield e;
  }
}

/** Groups entries into streams: by all labels, or (categorize-labels) by stream labels with the rest per line. */
export class StreamCollector {
  private readonly streams = new Map<string, StreamResult>();
  count = 0;

  constructor(private readonly categorize: boolean) {}

  add(e: Entry): void {
    const ns = e.tsNs ?? nsString(e.ts);
    let value: StreamValue;
    let stream: Labels;
    if (this.categorize) {
      stream = e.stream;
      const extra: { structuredMetadata?: Labels; parsed?: Labels } = {};
      if (Object.keys(e.metadata).length > 0) extra.structuredMetadata = sortedLabels(e.metadata);
      if (Object.keys(e.parsed).length > 0) extra.parsed = sortedLabels(e.parsed);
      value = [ns, e.line, extra];
    } else {
      stream = allLabels(e);
      value = [ns, e.line];
    }
    const { labels, key } = canonicalLabels(stream);
    let s = this.streams.get(key);
    if (!s) {
      s = { stream: labels, values: [] };
      this.streams.set(key, s);
    }
    s.values.push(value);
    this.count++;
  }

  result(): StreamResult[] {
    return [...this.streams.values()];
  }
}

export function readLogs(
  store: Store,
  plan: SourcePlan,
  read: LogRead,
  categorize: boolean,
  deadline: Deadline,
  stats: ReadStats,
): { streams: StreamResult[]; entries: number } {
  const out = new StreamCollector(categorize);
  if (read.limit <= 0 || read.toMs <= read.fromMs) return { streams: [], entries: 0 };
  const order = read.direction === 'forward' ? 'ASC' : 'DESC';
  for (const e of scanEntries(
    store,
    plan,
    { afterMs: read.fromMs, toMs: read.toMs, inclusiveFrom: true },
    order,
    deadline,
    stats,
  )) {
    if (!plan.pipeline(e)) continue;
    out.add(e);
    if (out.count >= read.limit) break;
  }
  return { streams: out.result(), entries: out.count };
}

/** Rows stored after `afterSeq` that match, oldest first, for a live tail. */
export function tailLogs(
  store: Store,
  plan: SourcePlan,
  afterSeq: number,
  limit: number,
  deadline: Deadline,
): { streams: StreamResult[]; lastSeq: number } {
  const top = store.maxSeq();
  const out = new StreamCollector(false);
  if (top <= afterSeq || limit <= 0) return { streams: [], lastSeq: Math.max(afterSeq, top) };
  // Read in store order (the primary key); a bounded number of rows per call keeps a call short.
  const scanCap = Math.max(limit * 4, 2000);
  const sql =
    `SELECT ${ENTRY_COLUMNS.join(', ')} FROM events WHERE seq > ? AND seq <= ? AND (${plan.where.sql})` +
    ' ORDER BY seq LIMIT ?';
  let lastSeq = afterSeq;
  let rows = 0;
  for (const row of store
    .select(sql)
    .raw(true)
    .iterate(afterSeq, top, ...plan.where.params, scanCap) as Iterable<unknown[]>) {
    deadline.tick();
    rows++;
    const e = entryOf(row);
    lastSeq = e.seq;
    if (!plan.pipeline(e)) continue;
    out.add(e);
    if (out.count >= limit) return { streams: out.result(), lastSeq };
  }
  return { streams: out.result(), lastSeq: rows < scanCap ? top : lastSeq };
}
