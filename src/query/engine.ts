/**
 * The LogQL engine over the embedded store: Loki's query, query_range, labels, label values, series,
 * index stats and tail, answering in Loki's shapes (api.ts). Works on the collector's own store and on one
 * opened read-only. Every call is bounded by QueryLimits: time range, lines, points, series and wall time.
 */
import { minuteOf, type Store } from '../store/index.ts';
import {
  DEFAULT_QUERY_LIMITS,
  type InstantQueryRequest,
  type Labels,
  type MatrixResult,
  type Nanos,
  type QueryData,
  QueryError,
  QueryLimitError,
  type QueryLimits,
  type QueryResponse,
  type QueryStats,
  type RangeQueryRequest,
  type StreamResult,
  type VectorResult,
} from './api.ts';
import type { LogSelector, MetricExpr, RangeAggregation } from './ast.ts';
import { evaluate, type Value } from './evaluate.ts';
import {
  ALIASES,
  ENTRY_COLUMNS,
  type Entry,
  entryOf,
  LABEL_DEFS,
  LABELS_BY_NAME,
  labelsKey,
  sortedLabels,
} from './labels.ts';
import { formatFloat } from './literals.ts';
import { type ReadStats, readLogs, tailLogs } from './logs.ts';
import { parseQuery } from './parser.ts';
import {
  type CompiledQuery,
  compile,
  Deadline,
  planSource,
  prepareStore,
  queryScope,
  type SourcePlan,
} from './plan.ts';
import { planFor, type RangeContext } from './range.ts';

export interface TimeBounds {
  start: Nanos;
  end: Nanos;
}

export interface IndexStats {
  streams: number;
  chunks: number;
  entries: number;
  bytes: number;
}

export interface TailBatch {
  streams: StreamResult[];
  /** Store seq of the last event looked at; the next call continues after it. */
  lastSeq: number;
}

const NS_PER_MS = 1_000_000n;

/** Our stream (indexed) labels that are columns (service is constant). */
const STREAM_DEFS = LABEL_DEFS.filter((d) => d.category === 'stream' && d.column !== '');

/** First whole ms at or after a ns time (an inclusive bound). */
function ceilMs(ns: Nanos): number {
  const q = ns / NS_PER_MS;
  return Number(ns % NS_PER_MS > 0n ? q + 1n : q);
}

/** The ms holding a ns time (evaluation times: an entry at ms t is at or before t + 0.999 ms). */
function floorMs(ns: Nanos): number {
  const q = ns / NS_PER_MS;
  return Number(ns % NS_PER_MS < 0n ? q - 1n : q);
}

function formatDuration(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

function stats(t0: number, read: ReadStats, returned: number): QueryStats {
  const execTime = (performance.now() - t0) / 1000;
  return {
    summary: {
      execTime,
      queueTime: 0,
      subqueries: 0,
      totalEntriesReturned: returned,
      totalLinesProcessed: read.lines,
      totalBytesProcessed: read.bytes,
      bytesProcessedPerSecond: execTime > 0 ? Math.round(read.bytes / execTime) : 0,
      linesProcessedPerSecond: execTime > 0 ? Math.round(read.lines / execTime) : 0,
      totalPostFilterLines: returned,
    },
  };
}

/** Time span (ms) the range aggregations of a metric query read, for the scope of foreign labels. */
function dataSpan(e: MetricExpr, fromMs: number, toMs: number): [number, number] {
  let lo = fromMs;
  let hi = toMs;
  const walk = (x: MetricExpr) => {
    if (x.kind === 'range') {
      lo = Math.min(lo, fromMs - x.offsetMs - x.rangeMs);
      hi = Math.max(hi, toMs - x.offsetMs);
    } else if (x.kind === 'vector_agg') walk(x.expr);
    else if (x.kind === 'binary') {
      walk(x.left);
      walk(x.right);
    }
  };
  walk(e);
  return [lo, hi];
}

export class QueryEngine {
  constructor(
    readonly store: Store,
    readonly limits: QueryLimits = DEFAULT_QUERY_LIMITS,
  ) {}

  /** Parse and plan only (the parse + plan benchmark; also validates a query). */
  compile(query: string): CompiledQuery {
    return compile(query, this.store);
  }

  rangeQuery(req: RangeQueryRequest): QueryResponse {
    const t0 = performance.now();
    const query = parseQuery(req.query);
    if (req.end < req.start) throw new QueryError('end timestamp must not be before start time');
    this.checkLength(req.start, req.end);
    if (query.kind === 'log') {
      const fromMs = ceilMs(req.start);
      const toMs = ceilMs(req.end);
      return this.logs(query.selector, req.query, fromMs, toMs, req, t0);
    }
    if (!(req.stepMs > 0) || !Number.isInteger(req.stepMs)) {
      throw new QueryError(
        'zero or negative query resolution step widths are not accepted. Try a positive integer',
      );
    }
    const startMs = floorMs(req.start);
    const steps = Number((req.end - req.start) / (BigInt(req.stepMs) * NS_PER_MS)) + 1;
    if (steps > this.limits.maxPoints) {
      throw new QueryLimitError(
        `exceeded maximum resolution of ${this.limits.maxPoints} points per timeseries. Try decreasing the query resolution (?step=XX)`,
      );
    }
    const read: ReadStats = { lines: 0, bytes: 0 };
    const value = this.metric(query.expr, req.query, { startMs, stepMs: req.stepMs, steps }, read);
    const result = toMatrix(value, startMs, req.stepMs);
    const points = result.reduce((a, s) => a + s.values.length, 0);
    return ok({ resultType: 'matrix', result, stats: stats(t0, read, points) });
  }

  instantQuery(req: InstantQueryRequest): QueryResponse {
    const t0 = performance.now();
    const query = parseQuery(req.query);
    if (query.kind === 'log') {
      throw new QueryError(
        'log queries are not supported as an instant query type, please change your query to a range query type',
      );
    }
    const startMs = floorMs(req.time);
    const read: ReadStats = { lines: 0, bytes: 0 };
    const value = this.metric(query.expr, req.query, { startMs, stepMs: 1, steps: 1 }, read);
    const sec = startMs / 1000;
    if (value.kind === 'scalar') {
      return ok({
        resultType: 'scalar',
        result: [sec, formatFloat(value.values[0] as number)],
        stats: stats(t0, read, 1),
      });
    }
    const result: VectorResult[] = value.series
      .filter((s) => s.present[0] === 1)
      .map((s) => ({
        metric: sortedLabels(s.labels),
        value: [sec, formatFloat(s.values[0] as number)] as [number, string],
      }))
      .sort((a, b) => labelsKey(a.metric).localeCompare(labelsKey(b.metric)));
    return ok({ resultType: 'vector', result, stats: stats(t0, read, result.length) });
  }

  /** Label names with a value in the time range (of the events a selector picks, with `query`). */
  labels(req: TimeBounds & { query?: string | undefined }): string[] {
    const { fromMs, toMs } = this.bounds(req);
    const plan = req.query ? this.selectorPlan(req.query, fromMs, toMs) : undefined;
    const names = new Set<string>();
    const [fromMin, toMin] = minutesOf(fromMs, toMs);
    const useRollup = !plan || plan.plan.rollupOk;
    for (const d of LABEL_DEFS) {
      const where = plan ? plan.plan.where : { sql: '1', params: [] };
      let found: unknown;
      if (useRollup && (d.rollup || d.presence)) {
        const col = d.presence
          ? `${d.presence} = 1`
          : d.column === ''
            ? '1'
            : `coalesce(${d.column}, '') != ''`;
        found = this.store
          .select(
            `SELECT 1 FROM rollup_minute WHERE minute >= ? AND minute < ? AND ${col} AND (${where.sql}) LIMIT 1`,
          )
          .raw(false)
          .get(fromMin, toMin, ...where.params);
      } else {
        found = this.store
          .select(
            `SELECT 1 FROM events INDEXED BY ${plan?.plan.index ?? 'events_ts'} WHERE ts >= ? AND ts < ? AND coalesce(${d.sql}, '') != '' AND (${where.sql}) LIMIT 1`,
          )
          .raw(false)
          .get(fromMs, toMs, ...where.params);
      }
      if (found) names.add(d.name);
    }
    if (!plan) {
      for (const f of this.store.foreignLabelNames()) {
        if (f.last_ts >= fromMs && f.first_ts < toMs) names.add(f.name);
      }
    } else {
      for (const e of this.foreignEntries(fromMs, toMs, plan.plan)) {
        for (const n of [...Object.keys(e.stream), ...Object.keys(e.metadata)]) names.add(n);
      }
    }
    return [...names].sort();
  }

  /** Pushed foreign lines in [fromMs, toMs) that a plan picks (their own labels win, so read row by row). */
  private *foreignEntries(fromMs: number, toMs: number, plan: SourcePlan | undefined): Generator<Entry> {
    if (!this.store.foreignLabelNames().some((f) => f.last_ts >= fromMs && f.first_ts < toMs)) return;
    const where = plan?.where ?? { sql: '1', params: [] };
    const deadline = new Deadline(this.limits);
    const stmt = this.store
      .select(
        `SELECT ${ENTRY_COLUMNS.join(', ')} FROM events INDEXED BY events_foreign_ts WHERE ts >= ? AND ts < ? AND (extra_labels IS NOT NULL OR extra_metadata IS NOT NULL) AND (${where.sql})`,
      )
      .raw(true);
    for (const r of stmt.iterate(fromMs, toMs, ...where.params) as Iterable<unknown[]>) {
      deadline.tick();
      const e = entryOf(r);
      if (!plan || plan.pipeline(e)) yield e;
    }
  }

  /** Values of one label in the time range. */
  labelValues(name: string, req: TimeBounds & { query?: string | undefined }): string[] {
    const { fromMs, toMs } = this.bounds(req);
    const label = LABELS_BY_NAME.has(name) ? name : (ALIASES[name] ?? name);
    const def = LABELS_BY_NAME.get(label);
    const plan = req.query ? this.selectorPlan(req.query, fromMs, toMs) : undefined;
    const where = plan?.plan.where ?? { sql: '1', params: [] };
    const values = new Set<string>();
    const add = (rows: unknown[][]) => {
      for (const r of rows) {
        const v = r[0];
        if (v !== null && v !== undefined && v !== '') values.add(String(v));
      }
    };
    if (def && (def.rollup || def.column === '') && (!plan || plan.plan.rollupOk)) {
      add(
        this.store
          .select(
            `SELECT DISTINCT ${def.sql} FROM rollup_minute WHERE minute >= ? AND minute < ? AND foreign_line = 0 AND (${where.sql})`,
          )
          .raw(true)
          .all(...minutesOf(fromMs, toMs), ...where.params) as unknown[][],
      );
    } else if (def?.name === 'session_id' && !plan) {
      add(
        this.store
          .select("SELECT session_id FROM sessions WHERE first_ts < ? AND last_ts >= ? AND session_id != ''")
          .raw(true)
          .all(toMs, fromMs) as unknown[][],
      );
    } else if (def) {
      const deadline = new Deadline(this.limits);
      const stmt = this.store
        .select(
          `SELECT DISTINCT ${def.sql} FROM events INDEXED BY ${plan?.plan.index ?? 'events_ts'} WHERE ts >= ? AND ts < ? AND (${where.sql}) AND extra_labels IS NULL AND extra_metadata IS NULL`,
        )
        .raw(true);
      for (const r of stmt.iterate(fromMs, toMs, ...where.params) as Iterable<unknown[]>) {
        deadline.tick();
        add([r]);
      }
    }
    for (const e of this.foreignEntries(fromMs, toMs, plan?.plan)) {
      const v = e.stream[label] ?? e.metadata[label];
      if (v) values.add(v);
    }
    return [...values].sort();
  }

  /** Distinct stream label sets (indexed labels only) of the events the selectors pick. */
  series(req: TimeBounds & { match: string[] }): Labels[] {
    const { fromMs, toMs } = this.bounds(req);
    const out = new Map<string, Labels>();
    const streamCols = STREAM_DEFS.map((d) => d.column);
    const [fromMin, toMin] = minutesOf(fromMs, toMs);
    for (const m of req.match) {
      const { plan } = this.selectorPlan(m, fromMs, toMs);
      const foreign = this.foreignRowsIn(fromMin, toMin);
      const deadline = new Deadline(this.limits);
      // Only the columns that make stream labels are read; the rest stay NULL.
      const cols = ENTRY_COLUMNS.map((c) =>
        streamCols.includes(c) || (foreign && c.startsWith('extra_')) ? c : 'NULL',
      );
      const sql =
        plan.rollupOk && !foreign
          ? `SELECT DISTINCT ${cols.join(', ')} FROM rollup_minute WHERE minute >= ? AND minute < ? AND (${plan.where.sql})`
          : `SELECT DISTINCT ${cols.join(', ')} FROM events INDEXED BY ${plan.index} WHERE ts >= ? AND ts < ? AND (${plan.where.sql})`;
      const [a, b] = plan.rollupOk && !foreign ? [fromMin, toMin] : [fromMs, toMs];
      for (const r of this.store
        .select(sql)
        .raw(true)
        .iterate(a, b, ...plan.where.params) as Iterable<unknown[]>) {
        deadline.tick();
        const labels = sortedLabels(entryOf(r).stream);
        out.set(labelsKey(labels), labels);
      }
    }
    return [...out.values()];
  }

  /** Streams, entries and bytes of the events a selector picks (Grafana's query-size hint). */
  indexStats(req: TimeBounds & { query: string | null | undefined }): IndexStats {
    const { fromMs, toMs } = this.bounds(req);
    if (!req.query) throw new QueryError('query is required');
    const { plan } = this.selectorPlan(req.query, fromMs, toMs);
    const [fromMin, toMin] = minutesOf(fromMs, toMs);
    const foreign = this.foreignRowsIn(fromMin, toMin);
    const streamKey = STREAM_DEFS.map((d) => `coalesce(${d.column}, '')`).join(' || char(31) || ');
    const sql =
      plan.rollupOk && !foreign
        ? `SELECT count(DISTINCT ${streamKey}) AS streams, coalesce(sum(n), 0) AS entries, coalesce(sum(bytes), 0) AS bytes FROM rollup_minute WHERE minute >= ? AND minute < ? AND (${plan.where.sql})`
        : `SELECT count(DISTINCT ${streamKey} || char(31) || coalesce(extra_labels, '')) AS streams, count(*) AS entries, coalesce(sum(line_bytes), 0) AS bytes FROM events INDEXED BY ${plan.index} WHERE ts >= ? AND ts < ? AND (${plan.where.sql})`;
    const [a, b] = plan.rollupOk && !foreign ? [fromMin, toMin] : [fromMs, toMs];
    const r = this.store
      .select(sql)
      .raw(false)
      .get(a, b, ...plan.where.params) as IndexStats;
    return { streams: r.streams, chunks: r.streams, entries: r.entries, bytes: r.bytes };
  }

  private foreignRowsIn(fromMin: number, toMin: number): boolean {
    return !!this.store
      .select('SELECT 1 FROM rollup_minute WHERE foreign_line = 1 AND minute >= ? AND minute < ? LIMIT 1')
      .raw(false)
      .get(fromMin, toMin);
  }

  /** Log lines stored after `afterSeq` that the query matches (at most `limit`), for a live tail. */
  tail(query: string, afterSeq: number, limit: number): TailBatch {
    const q = parseQuery(query);
    if (q.kind !== 'log') throw new QueryError('tail only supports log queries');
    const plan = planSource(q.selector, queryScope(this.store, query, 0, Number.MAX_SAFE_INTEGER));
    prepareStore(this.store, [plan]);
    return tailLogs(
      this.store,
      plan,
      afterSeq,
      Math.min(limit, this.limits.maxLines),
      new Deadline(this.limits),
    );
  }

  private bounds(req: TimeBounds): { fromMs: number; toMs: number } {
    if (req.end < req.start) throw new QueryError('end timestamp must not be before start time');
    this.checkLength(req.start, req.end);
    return { fromMs: ceilMs(req.start), toMs: ceilMs(req.end) };
  }

  private checkLength(start: Nanos, end: Nanos): void {
    const ms = Number((end - start) / NS_PER_MS);
    if (ms > this.limits.maxRangeMs) {
      throw new QueryLimitError(
        `the query time range exceeds the limit (query length: ${formatDuration(ms)}, limit: ${formatDuration(this.limits.maxRangeMs)})`,
      );
    }
  }

  /** The selector of a labels/series/stats `query` parameter (its pipeline, if any, also applies). */
  private selectorPlan(
    text: string,
    fromMs: number,
    toMs: number,
  ): { selector: LogSelector; plan: SourcePlan } {
    const q = parseQuery(text);
    if (q.kind !== 'log') throw new QueryError(`a log selector was expected, got a metric query: ${text}`);
    const plan = planSource(q.selector, queryScope(this.store, text, fromMs - 1, toMs));
    prepareStore(this.store, [plan]);
    return { selector: q.selector, plan };
  }

  private logs(
    selector: LogSelector,
    text: string,
    fromMs: number,
    toMs: number,
    req: RangeQueryRequest,
    t0: number,
  ): QueryResponse {
    const plan = planSource(selector, queryScope(this.store, text, fromMs - 1, toMs));
    prepareStore(this.store, [plan]);
    const read: ReadStats = { lines: 0, bytes: 0 };
    const limit = Math.max(0, Math.min(req.limit, this.limits.maxLines));
    const { streams, entries } = readLogs(
      this.store,
      plan,
      { fromMs, toMs, limit, direction: req.direction },
      req.categorizeLabels,
      new Deadline(this.limits),
      read,
    );
    const data: QueryData = { resultType: 'streams', result: streams, stats: stats(t0, read, entries) };
    if (req.categorizeLabels) data.encodingFlags = ['categorize-labels'];
    return ok(data);
  }

  private metric(
    expr: MetricExpr,
    text: string,
    steps: { startMs: number; stepMs: number; steps: number },
    read: ReadStats,
  ): Value {
    const last = steps.startMs + (steps.steps - 1) * steps.stepMs;
    const [lo, hi] = dataSpan(expr, steps.startMs, last);
    const scope = queryScope(this.store, text, lo, hi);
    const ctx: RangeContext = {
      store: this.store,
      scope,
      limits: this.limits,
      deadline: new Deadline(this.limits),
      stats: read,
      plans: new Map(),
    };
    prepareStore(
      this.store,
      rangeNodes(expr).map((n) => planFor(n, ctx)),
    );
    return evaluate(expr, steps, ctx);
  }
}

function ok(data: QueryData): QueryResponse {
  return { status: 'success', data };
}

function toMatrix(v: Value, startMs: number, stepMs: number): MatrixResult[] {
  const at = (k: number) => (startMs + k * stepMs) / 1000;
  if (v.kind === 'scalar') {
    return [
      { metric: {}, values: Array.from(v.values, (x, k) => [at(k), formatFloat(x)] as [number, string]) },
    ];
  }
  const out: MatrixResult[] = [];
  for (const s of v.series) {
    const values: [number, string][] = [];
    for (let k = 0; k < s.present.length; k++)
      if (s.present[k] === 1) values.push([at(k), formatFloat(s.values[k] as number)]);
    if (values.length > 0) out.push({ metric: sortedLabels(s.labels), values });
  }
  return out.sort((a, b) => labelsKey(a.metric).localeCompare(labelsKey(b.metric)));
}

/** Minutes of the rollup that hold the event times [fromMs, toMs): [first, end). */
function minutesOf(fromMs: number, toMs: number): [number, number] {
  return [minuteOf(fromMs), minuteOf(toMs - 1) + 1];
}

function rangeNodes(e: MetricExpr): RangeAggregation[] {
  if (e.kind === 'range') return [e];
  if (e.kind === 'vector_agg') return rangeNodes(e.expr);
  if (e.kind === 'binary') return [...rangeNodes(e.left), ...rangeNodes(e.right)];
  return [];
}
