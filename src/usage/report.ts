/**
 * Token and cost sums, grouped by session, agent, project, day or model, over two sources of API requests:
 * transcripts (table usage) and Claude Code's own OTLP export (table otel_requests, src/usage/otel.ts).
 *
 * Each request is counted once. Both sources carry the API's request id (transcripts: requestId; OTLP:
 * request_id), so a request seen by both is one row (source `both`), with the transcript's counts; a request
 * only one source saw adds its own. An OTLP request without a request id cannot be matched: it counts only
 * for a session no transcript row belongs to. Every sum says where its figures come from (`source`) and
 * carries each source's own totals (`sources`), OTLP with the cost Claude Code itself reported.
 *
 * Costs are computed when asked, from the price table in force, so a changed `pricing:` applies to all history.
 */
import type { Store } from '../store/index.ts';
import { COST_METRIC } from './otel.ts';
import { Pricing, type TokenCounts } from './pricing.ts';

export const COST_GROUPS = ['session', 'agent', 'project', 'day', 'model'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

export type UsageSource = 'transcript' | 'otel' | 'both';

export interface SourceSum extends TokenCounts {
  /** API requests (responses). */
  messages: number;
  /** USD at the price table's prices; null when no request had a price. */
  cost: number | null;
  /** Models without a price (their tokens are counted, their cost is not). */
  unpriced: string[];
}

export interface UsageSum extends SourceSum {
  /** Where the figures come from; absent when there are none. */
  source?: UsageSource;
  /**
   * Each source's own totals: a request both sources saw is in both, and counted once above. OTLP's also
   * holds the cost Claude Code reported (cost_usd), which is its own estimate at list prices.
   */
  sources?: { transcript?: SourceSum; otel?: SourceSum & { reported_cost_usd: number | null } };
}

/** Claude Code's cost and token metrics (claude_code.cost.usage, claude_code.token.usage) summed. */
export interface MetricSum {
  cost_usd: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
}

export interface CostLine extends UsageSum {
  key: string;
  /** The OTLP metrics' sums for the same key (not for --by agent: the metrics name no agent id). */
  metrics?: MetricSum;
  /** by agent: the session it belongs to and the agent type, when known. */
  session_id?: string;
  agent_id?: string;
  agent_type?: string | null;
}

export interface CostReport {
  /** Where the figures come from (the total's source); null when nothing is stored. */
  source: UsageSource | null;
  by: CostGroup;
  rows: CostLine[];
  total: UsageSum;
  /** The OTLP metrics' sums over the same filter, when any were received. */
  metrics?: MetricSum;
}

const KEY: Record<CostGroup, string> = {
  session: 'u.session_id',
  agent: "u.session_id || '/' || u.agent_id",
  project: "COALESCE(s.project_name, u.project_name, '')",
  day: "strftime('%Y-%m-%d', u.ts / 1000, 'unixepoch')",
  model: 'u.model',
};

export function emptySum(): SourceSum {
  return {
    messages: 0,
    input: 0,
    output: 0,
    cacheCreation: 0,
    cacheCreation1h: 0,
    cacheRead: 0,
    cost: null,
    unpriced: [],
  };
}

interface Grouped {
  k: string;
  model: string;
  /** 1 transcript only, 2 OTLP only, 3 both. */
  src: number;
  session_id: string;
  agent_id: string;
  agent_type: string | null;
  n: number;
  input: number;
  output: number;
  cc: number;
  cc1h: number;
  cr: number;
  o_input: number;
  o_output: number;
  o_cc: number;
  o_cc1h: number;
  o_cr: number;
  /** Requests with a reported cost, and its sum. */
  o_costn: number;
  o_cost: number | null;
}

/** Adds one model's sums (and their cost) to `into`. */
export function addModel(into: SourceSum, model: string, t: TokenCounts & { messages: number }, p: Pricing) {
  addTokens(into, t);
  const c = p.cost(model, t);
  if (c === undefined) {
    if (!into.unpriced.includes(model)) into.unpriced.push(model);
  } else into.cost = (into.cost ?? 0) + c;
}

/**
 * Every API request once: transcript rows (with the OTLP event of the same request id, if any), then OTLP
 * requests no transcript row has. Columns: the transcript's view (or OTLP's, for src 2) and OTLP's view.
 */
const REQUESTS = `
  SELECT u.session_id AS session_id, u.agent_id AS agent_id, u.agent_type AS agent_type,
    u.project_name AS project_name, u.model AS model, u.ts AS ts, u.input_tokens AS input,
    u.output_tokens AS output, u.cache_creation_tokens AS cc, u.cache_creation_1h_tokens AS cc1h,
    u.cache_read_tokens AS cr, CASE WHEN o.request_key IS NULL THEN 1 ELSE 3 END AS src,
    o.input_tokens AS o_input, o.output_tokens AS o_output, o.cache_creation_tokens AS o_cc,
    o.cache_creation_1h_tokens AS o_cc1h, o.cache_read_tokens AS o_cr, o.cost_usd AS o_cost
  FROM usage u LEFT JOIN otel_requests o ON u.request_id <> '' AND o.request_id = u.request_id
  UNION ALL
  SELECT o.session_id, o.agent_id, CASE WHEN o.agent_id <> '' THEN o.agent_name END, NULL, o.model, o.ts,
    o.input_tokens, o.output_tokens, o.cache_creation_tokens, o.cache_creation_1h_tokens, o.cache_read_tokens, 2,
    o.input_tokens, o.output_tokens, o.cache_creation_tokens, o.cache_creation_1h_tokens, o.cache_read_tokens,
    o.cost_usd
  FROM otel_requests o
  WHERE CASE WHEN o.request_id IS NOT NULL
    THEN NOT EXISTS (SELECT 1 FROM usage x WHERE x.request_id = o.request_id)
    ELSE NOT EXISTS (SELECT 1 FROM usage x WHERE x.session_id = o.session_id) END`;

const SUMS =
  'count(*) AS n, sum(input) AS input, sum(output) AS output, sum(cc) AS cc, sum(cc1h) AS cc1h, sum(cr) AS cr,' +
  ' sum(o_input) AS o_input, sum(o_output) AS o_output, sum(o_cc) AS o_cc, sum(o_cc1h) AS o_cc1h,' +
  ' sum(o_cr) AS o_cr, count(o_cost) AS o_costn, sum(o_cost) AS o_cost';

/** The token counts of a group as the transcripts (or, for OTLP-only requests, OTLP) saw them, or as OTLP did. */
function counts(r: Grouped, otel = false): TokenCounts & { messages: number } {
  const n = (col: 'input' | 'output' | 'cc' | 'cc1h' | 'cr') => r[otel ? (`o_${col}` as const) : col];
  return {
    messages: r.n,
    input: n('input'),
    output: n('output'),
    cacheCreation: n('cc'),
    cacheCreation1h: n('cc1h'),
    cacheRead: n('cr'),
  };
}

const SOURCE: Record<number, UsageSource> = { 1: 'transcript', 2: 'otel', 3: 'both' };

function mergeSource(a: UsageSource | undefined, b: UsageSource): UsageSource {
  return a === undefined || a === b ? b : 'both';
}

function transcriptOf(into: UsageSum): SourceSum {
  if (!into.sources) into.sources = {};
  if (!into.sources.transcript) into.sources.transcript = emptySum();
  return into.sources.transcript;
}

function otelOf(into: UsageSum): SourceSum & { reported_cost_usd: number | null } {
  if (!into.sources) into.sources = {};
  if (!into.sources.otel) into.sources.otel = { ...emptySum(), reported_cost_usd: null };
  return into.sources.otel;
}

function addReported(o: { reported_cost_usd: number | null }, usd: number | null): void {
  if (usd !== null) o.reported_cost_usd = (o.reported_cost_usd ?? 0) + usd;
}

/** Adds one group of requests (one model, one source kind) to `into`: once above, and to each source seen. */
function addGroup(into: UsageSum, r: Grouped, p: Pricing): void {
  addModel(into, r.model, counts(r), p);
  into.source = mergeSource(into.source, SOURCE[r.src] ?? 'transcript');
  if (r.src & 1) addModel(transcriptOf(into), r.model, counts(r), p);
  if (r.src & 2) {
    const o = otelOf(into);
    addModel(o, r.model, counts(r, true), p);
    addReported(o, r.o_costn > 0 ? r.o_cost : null);
  }
}

/** Adds `from` to `into`: the sums, the unpriced models, the source and each source's totals. */
export function addSum(into: UsageSum, from: UsageSum): void {
  addSourceSum(into, from);
  if (from.source !== undefined) into.source = mergeSource(into.source, from.source);
  if (from.sources?.transcript) addSourceSum(transcriptOf(into), from.sources.transcript);
  const fo = from.sources?.otel;
  if (fo) {
    const o = otelOf(into);
    addSourceSum(o, fo);
    addReported(o, fo.reported_cost_usd);
  }
}

function addTokens(into: SourceSum, t: TokenCounts & { messages: number }): void {
  into.messages += t.messages;
  into.input += t.input;
  into.output += t.output;
  into.cacheCreation += t.cacheCreation;
  into.cacheCreation1h += t.cacheCreation1h;
  into.cacheRead += t.cacheRead;
}

function addSourceSum(into: SourceSum, from: SourceSum): void {
  addTokens(into, from);
  if (from.cost !== null) into.cost = (into.cost ?? 0) + from.cost;
  for (const m of from.unpriced) if (!into.unpriced.includes(m)) into.unpriced.push(m);
}

/**
 * The metric points that make the totals: every delta (or gauge) point, and of a cumulative series the
 * latest point of each start time.
 */
const METRIC_POINTS = `
  SELECT m.session_id AS session_id, '' AS agent_id, NULL AS project_name, m.model AS model, m.ts AS ts,
    m.metric AS metric, m.type AS type, m.value AS value
  FROM otel_metrics m
  WHERE m.cumulative = 0 OR m.time_ns = (SELECT max(x.time_ns) FROM otel_metrics x
    WHERE x.metric = m.metric AND x.series = m.series AND x.start_ns = m.start_ns)`;

const TOKEN_TYPES: Record<string, keyof MetricSum> = {
  input: 'input',
  output: 'output',
  cacheRead: 'cacheRead',
  cacheCreation: 'cacheCreation',
};

function filterSql(opts: { since?: number; session?: string }): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.since !== undefined) {
    where.push('u.ts >= ?');
    params.push(opts.since);
  }
  if (opts.session !== undefined) {
    where.push('u.session_id = ?');
    params.push(opts.session);
  }
  return { where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

/** OTLP metric sums by the report's key ('' key: all). */
function metricSums(
  store: Store,
  by: CostGroup | undefined,
  opts: { since?: number; session?: string },
): Map<string, MetricSum> {
  const f = filterSql(opts);
  const rows = store
    .select(
      `SELECT ${by ? KEY[by] : "''"} AS k, u.metric AS metric, u.type AS type, sum(u.value) AS v
       FROM (${METRIC_POINTS}) u LEFT JOIN sessions s ON s.session_id = u.session_id ${f.where}
       GROUP BY k, u.metric, u.type`,
    )
    .all(...f.params) as { k: string; metric: string; type: string | null; v: number }[];
  const out = new Map<string, MetricSum>();
  for (const r of rows) {
    let m = out.get(r.k);
    if (!m) {
      m = { cost_usd: 0, input: 0, output: 0, cacheRead: 0, cacheCreation: 0 };
      out.set(r.k, m);
    }
    if (r.metric === COST_METRIC) m.cost_usd += r.v;
    else {
      const field = TOKEN_TYPES[r.type ?? ''];
      if (field) m[field] += r.v;
    }
  }
  return out;
}

/** Usage and cost grouped by `by`, costliest first. `since`: ms since epoch. */
export function costReport(
  store: Store,
  pricing: Pricing,
  opts: { by?: CostGroup; since?: number; session?: string } = {},
): CostReport {
  const by = opts.by ?? 'session';
  const f = filterSql(opts);
  const rows = store
    .select(
      `SELECT ${KEY[by]} AS k, u.model AS model, u.src AS src, max(u.session_id) AS session_id,
         max(u.agent_id) AS agent_id, max(u.agent_type) AS agent_type, ${SUMS}
       FROM (${REQUESTS}) u LEFT JOIN sessions s ON s.session_id = u.session_id
       ${f.where}
       GROUP BY k, u.model, u.src`,
    )
    .all(...f.params) as Grouped[];
  const lines = new Map<string, CostLine>();
  const total: UsageSum = emptySum();
  for (const r of rows) {
    let line = lines.get(r.k);
    if (!line) {
      line = { key: r.k, ...emptySum() };
      if (by === 'agent') {
        line.session_id = r.session_id;
        line.agent_id = r.agent_id;
        line.agent_type = r.agent_type;
      }
      lines.set(r.k, line);
    } else if (by === 'agent' && !line.agent_type && r.agent_type) line.agent_type = r.agent_type;
    addGroup(line, r, pricing);
    addGroup(total, r, pricing);
  }
  const report: CostReport = { source: total.source ?? null, by, rows: [], total };
  const metrics = metricSums(store, by === 'agent' ? undefined : by, opts);
  if (by !== 'agent') {
    for (const [k, m] of metrics) {
      const line = lines.get(k) ?? { key: k, ...emptySum() };
      line.metrics = m;
      lines.set(k, line);
    }
  }
  const all = by === 'agent' ? metrics.get('') : sumMetrics(metrics.values());
  if (all) report.metrics = all;
  report.rows = [...lines.values()].sort(
    (a, b) =>
      (b.cost ?? 0) - (a.cost ?? 0) ||
      b.output + b.input - (a.output + a.input) ||
      (b.metrics?.cost_usd ?? 0) - (a.metrics?.cost_usd ?? 0),
  );
  return report;
}

function sumMetrics(ms: Iterable<MetricSum>): MetricSum | undefined {
  let out: MetricSum | undefined;
  for (const m of ms) {
    out ??= { cost_usd: 0, input: 0, output: 0, cacheRead: 0, cacheCreation: 0 };
    out.cost_usd += m.cost_usd;
    out.input += m.input;
    out.output += m.output;
    out.cacheRead += m.cacheRead;
    out.cacheCreation += m.cacheCreation;
  }
  return out;
}

/**
 * Usage per (session, agent): the sums the fleet views attach to agents. Key `session/agent` ('' = main).
 * Each sum says its source; an agent only OTLP saw is there too (Claude Code puts the subagent's agent_id on
 * its api_request events).
 */
export function usageByAgent(
  store: Store,
  pricing: Pricing,
  session?: string,
): Map<string, UsageSum & { agent_type: string | null }> {
  const f = filterSql(session !== undefined ? { session } : {});
  const rows = store
    .select(
      `SELECT u.session_id || '/' || u.agent_id AS k, u.model AS model, u.src AS src, u.session_id AS session_id,
         u.agent_id AS agent_id, max(u.agent_type) AS agent_type, ${SUMS}
       FROM (${REQUESTS}) u ${f.where}
       GROUP BY u.session_id, u.agent_id, u.model, u.src`,
    )
    .all(...f.params) as Grouped[];
  const out = new Map<string, UsageSum & { agent_type: string | null }>();
  for (const r of rows) {
    let s = out.get(r.k);
    if (!s) {
      s = { ...emptySum(), agent_type: r.agent_type };
      out.set(r.k, s);
    } else if (!s.agent_type && r.agent_type) s.agent_type = r.agent_type;
    addGroup(s, r, pricing);
  }
  return out;
}

export { Pricing };
