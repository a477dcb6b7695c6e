/**
 * Federated queries: one LogQL query fanned out over HTTP to several Loki-compatible endpoints (real Lokis or
 * other collectors), each with its own time limit, and the answers merged into one Loki-shaped result plus a
 * report of every instance (ok, time taken, why it failed). A failed instance never disappears silently.
 *
 *   const fed = new Federation(config.federation);
 *   const { data, instances } = await fed.queryRange(request);
 *
 * Merging:
 *  - streams: every stream gets the instance label (config `instance_label`, default "instance") so its origin
 *    stays visible, entries are ordered by time in the requested direction and cut at `limit` overall. Without
 *    the label, streams with the same label set are joined.
 *  - matrix and vector (merge "auto"): series with the same label set are combined point by point, which is
 *    exact because every event lives on exactly one instance: sums and counts over time add up (sum, rate,
 *    count_over_time, bytes_*, sum_over_time), max/min take the max/min. Aggregations that do not compose this
 *    way are refused with a QueryError rather than answered wrongly: avg, count (of series), stddev/stdvar,
 *    quantile_over_time, topk/bottomk, first/last/avg_over_time, absent_over_time, and binary operations (a
 *    ratio of sums is not a sum of ratios). Merge "keep" answers those too, one series per instance, labelled.
 */
import { parser } from '@grafana/lezer-logql';
import type { SyntaxNode } from '@lezer/common';
import type { FederationConfig, FederationInstanceConfig } from '../sinks/config.ts';
import { authHeaders, networkReason } from '../sinks/http.ts';
import { isObject } from '../types.ts';
import {
  type InstantQueryRequest,
  type Labels,
  type MatrixResult,
  type Nanos,
  type QueryData,
  QueryError,
  type QueryStats,
  type RangeQueryRequest,
  type StreamResult,
  type StreamValue,
  type VectorResult,
} from './api.ts';

export interface InstanceReport {
  name: string;
  ok: boolean;
  /** Wall time of this instance's request. */
  ms: number;
  /** HTTP status when the instance answered. */
  status?: number;
  error?: string;
  /** Said of an instance that answered but whose answer was not used as such (fleet: a store already counted). */
  note?: string;
}

export interface FederatedResult<T> {
  data: T;
  /** One report per configured instance, in configuration order. */
  instances: InstanceReport[];
}

/** auto: combine series by label set where that is exact (see above). keep: one series per instance. */
export type MetricMerge = 'auto' | 'keep';

type Combine = 'sum' | 'max' | 'min';
type MergePlan = { kind: 'logs' } | { kind: 'metric'; combine: Combine } | { kind: 'constant' };

const SUMMABLE = new Set(['Sum', 'CountOverTime', 'Rate', 'BytesOverTime', 'BytesRate', 'SumOverTime']);
const MAXLIKE = new Set(['Max', 'MaxOverTime']);
const MINLIKE = new Set(['Min', 'MinOverTime']);

function firstChild(node: SyntaxNode, name: string): SyntaxNode | null {
  for (let c = node.firstChild; c; c = c.nextSibling) if (c.name === name) return c;
  return null;
}

function hasSelector(node: SyntaxNode): boolean {
  let found = false;
  node.toTree().iterate({
    enter: (n) => {
      if (n.name === 'Selector') found = true;
      return !found;
    },
  });
  return found;
}

/** How the answers of a query can be merged, decided from the outermost operation of its parse tree. */
export function mergePlan(query: string): MergePlan | { refuse: string } {
  const tree = parser.parse(query);
  let errorAt = -1;
  tree.iterate({
    enter: (n) => {
      if (errorAt < 0 && n.type.isError) errorAt = n.from;
    },
  });
  if (errorAt >= 0)
    throw new QueryError(`parse error at offset ${errorAt}: ${query.slice(errorAt, errorAt + 20)}`, errorAt);
  let node: SyntaxNode | null = tree.topNode.firstChild?.firstChild ?? null; // LogQL > Expr > (LogExpr | MetricExpr)
  while (node) {
    switch (node.name) {
      case 'LogExpr':
        return { kind: 'logs' };
      case 'MetricExpr':
      case 'LabelReplaceExpr':
        // Parentheses and label_replace act per series: the merge is decided by what they wrap.
        node = firstChild(node, 'MetricExpr') ?? node.firstChild;
        continue;
      case 'LiteralExpr':
      case 'VectorExpr':
        return { kind: 'constant' };
      case 'BinOpExpr':
        if (!hasSelector(node)) return { kind: 'constant' };
        return {
          refuse:
            'binary operations cannot be merged across instances (a ratio of sums is not a sum of ratios)',
        };
      case 'VectorAggregationExpr':
      case 'RangeAggregationExpr': {
        const op =
          firstChild(node, node.name === 'VectorAggregationExpr' ? 'VectorOp' : 'RangeOp')?.firstChild
            ?.name ?? '';
        if (SUMMABLE.has(op)) return { kind: 'metric', combine: 'sum' };
        if (MAXLIKE.has(op)) return { kind: 'metric', combine: 'max' };
        if (MINLIKE.has(op)) return { kind: 'metric', combine: 'min' };
        const text = query.slice(node.from, node.to).split('(')[0]!.trim();
        return { refuse: `${text} cannot be merged across instances by combining series` };
      }
      default:
        node = node.firstChild;
    }
  }
  return { refuse: 'query shape not recognised' };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface InstanceAnswer<T> {
  report: InstanceReport;
  value?: T;
}

function describeError(status: number, body: string): string {
  let message = body.trim();
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
    else if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    // Loki answers errors as plain text.
  }
  return `HTTP ${status}: ${message.slice(0, 300)}`;
}

export interface FederationOptions {
  /** Request headers sent to every instance (e.g. X-Loki-Response-Encoding-Flags). */
  headers?: Record<string, string>;
}

export class Federation {
  constructor(readonly config: FederationConfig) {}

  get instances(): readonly FederationInstanceConfig[] {
    return this.config.instances;
  }

  /** GET one path on one instance with the per-instance time limit; never throws. */
  private async get<T>(
    inst: FederationInstanceConfig,
    path: string,
    params: URLSearchParams | null,
    parse: (body: string) => T,
    extraHeaders: Record<string, string> = {},
  ): Promise<InstanceAnswer<T>> {
    const started = performance.now();
    const report = (ok: boolean, extra: Partial<InstanceReport>): InstanceReport => ({
      name: inst.name,
      ok,
      ms: elapsedMs(started),
      ...extra,
    });
    const url = `${inst.url.replace(/\/+$/, '')}${path}${params ? `?${params}` : ''}`;
    const headers: Record<string, string> = { ...inst.headers, ...extraHeaders, ...authHeaders(inst.auth) };
    if (inst.tenant) headers['x-scope-orgid'] = inst.tenant;
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.config.timeoutMs) });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return { report: report(false, { error: networkReason(err, this.config.timeoutMs) }) };
    }
    if (status < 200 || status >= 300)
      return { report: report(false, { status, error: describeError(status, text) }) };
    try {
      return { report: report(true, { status }), value: parse(text) };
    } catch (err) {
      return { report: report(false, { status, error: `unexpected response: ${(err as Error).message}` }) };
    }
  }

  private async fanOut<T>(
    path: string,
    params: URLSearchParams | null,
    parse: (body: string) => T,
    headers?: Record<string, string>,
  ): Promise<InstanceAnswer<T>[]> {
    return Promise.all(this.config.instances.map((inst) => this.get(inst, path, params, parse, headers)));
  }

  /**
   * GET `path` on every instance and parse each JSON answer (a parse that throws makes that instance fail with
   * the reason); one answer per instance, in configuration order. For the JSON routes beside the Loki ones.
   */
  async getJson<T>(
    path: string,
    params: URLSearchParams | null,
    parse: (body: unknown) => T,
  ): Promise<InstanceAnswer<T>[]> {
    return this.fanOut(path, params, (text) => parse(JSON.parse(text)));
  }

  /** `/ready` of every instance, for `status`. */
  async health(): Promise<InstanceReport[]> {
    const answers = await this.fanOut('/ready', null, () => true);
    return answers.map((a) => a.report);
  }

  async queryRange(
    req: RangeQueryRequest,
    merge: MetricMerge = 'auto',
    opts: FederationOptions = {},
  ): Promise<FederatedResult<QueryData>> {
    const params = new URLSearchParams({
      query: req.query,
      start: req.start.toString(),
      end: req.end.toString(),
      limit: String(req.limit),
      direction: req.direction,
      step: `${req.stepMs}ms`,
    });
    return this.runQuery('/loki/api/v1/query_range', params, req, merge, opts);
  }

  async query(
    req: InstantQueryRequest,
    merge: MetricMerge = 'auto',
    opts: FederationOptions = {},
  ): Promise<FederatedResult<QueryData>> {
    const params = new URLSearchParams({
      query: req.query,
      time: req.time.toString(),
      limit: String(req.limit),
      direction: req.direction,
    });
    return this.runQuery('/loki/api/v1/query', params, req, merge, opts);
  }

  private async runQuery(
    path: string,
    params: URLSearchParams,
    req: { query: string; limit: number; direction: 'forward' | 'backward'; categorizeLabels: boolean },
    merge: MetricMerge,
    opts: FederationOptions,
  ): Promise<FederatedResult<QueryData>> {
    const plan = mergePlan(req.query);
    if ('refuse' in plan && merge === 'auto') {
      throw new QueryError(
        `federated query: ${plan.refuse}; ask for one series per instance (merge=keep) instead`,
      );
    }
    const headers: Record<string, string> = { ...opts.headers };
    if (req.categorizeLabels) headers['x-loki-response-encoding-flags'] = 'categorize-labels';
    const answers = await this.fanOut(path, params, parseQueryData, headers);
    let named = answers.flatMap((a, i) =>
      a.value ? [{ name: this.config.instances[i]!.name, data: a.value }] : [],
    );
    // A constant (vector(1), 1+1) is the same everywhere: one answer is the answer.
    if (!('refuse' in plan) && plan.kind === 'constant') named = named.slice(0, 1);
    const combine = merge === 'keep' || 'refuse' in plan || plan.kind !== 'metric' ? null : plan.combine;
    const data = mergeQueryData(named, {
      limit: req.limit,
      direction: req.direction,
      instanceLabel: this.config.instanceLabel,
      combine,
    });
    return { data, instances: answers.map((a) => a.report) };
  }

  async labels(
    params: { start?: Nanos; end?: Nanos; query?: string } = {},
  ): Promise<FederatedResult<string[]>> {
    const answers = await this.fanOut('/loki/api/v1/labels', rangeParams(params), parseStringList);
    return { data: unionSorted(answers.map((a) => a.value ?? [])), instances: answers.map((a) => a.report) };
  }

  async labelValues(
    name: string,
    params: { start?: Nanos; end?: Nanos; query?: string } = {},
  ): Promise<FederatedResult<string[]>> {
    const path = `/loki/api/v1/label/${encodeURIComponent(name)}/values`;
    const answers = await this.fanOut(path, rangeParams(params), parseStringList);
    return { data: unionSorted(answers.map((a) => a.value ?? [])), instances: answers.map((a) => a.report) };
  }

  async series(params: { match: string[]; start?: Nanos; end?: Nanos }): Promise<FederatedResult<Labels[]>> {
    const search = rangeParams(params);
    for (const m of params.match) search.append('match[]', m);
    const answers = await this.fanOut('/loki/api/v1/series', search, parseSeries);
    const seen = new Map<string, Labels>();
    answers.forEach((a, i) => {
      for (const labels of a.value ?? []) {
        const withOrigin = this.config.instanceLabel
          ? { ...labels, [this.config.instanceLabel]: this.config.instances[i]!.name }
          : labels;
        seen.set(labelKey(withOrigin), withOrigin);
      }
    });
    return { data: [...seen.values()], instances: answers.map((a) => a.report) };
  }
}

function rangeParams(p: { start?: Nanos; end?: Nanos; query?: string }): URLSearchParams {
  const s = new URLSearchParams();
  if (p.start !== undefined) s.set('start', p.start.toString());
  if (p.end !== undefined) s.set('end', p.end.toString());
  if (p.query) s.set('query', p.query);
  return s;
}

/** Milliseconds since `since` (a performance.now() reading), to a tenth: how long an instance took. */
export function elapsedMs(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

// ---------------------------------------------------------------------------------------------------------------
// Response shapes (checked, since an instance may be anything that answers HTTP)

function successData(text: string): unknown {
  const body: unknown = JSON.parse(text);
  if (!isObject(body) || body.status !== 'success') throw new Error('status is not "success"');
  return body.data;
}

function parseStringList(body: string): string[] {
  const data = successData(body) ?? [];
  if (!Array.isArray(data) || !data.every((x) => typeof x === 'string'))
    throw new Error('data is not a list of strings');
  return data as string[];
}

function parseSeries(body: string): Labels[] {
  const data = successData(body) ?? [];
  if (!Array.isArray(data) || !data.every(isObject)) throw new Error('data is not a list of label sets');
  return data as Labels[];
}

function parseQueryData(body: string): QueryData {
  const data = successData(body);
  if (!isObject(data) || !['streams', 'matrix', 'vector', 'scalar'].includes(data.resultType as string)) {
    throw new Error('data.resultType is missing or unknown');
  }
  if (data.resultType !== 'scalar' && !Array.isArray(data.result))
    throw new Error('data.result is not a list');
  return data as unknown as QueryData;
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

export interface MergeOptions {
  limit: number;
  direction: 'forward' | 'backward';
  instanceLabel: string | null;
  /** null: keep one series per instance (labelled). */
  combine: Combine | null;
}

/** A label set as a stable key (sorted names). */
export function labelKey(labels: Labels): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

function unionSorted(lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

/** Compare ns timestamps given as decimal strings without leading zeros (no BigInt per entry). */
function compareNs(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

function labelled(labels: Labels, instanceLabel: string | null, instance: string): Labels {
  return instanceLabel ? { ...labels, [instanceLabel]: instance } : labels;
}

function mergeStats(parts: QueryData[]): QueryStats {
  const summary: QueryStats['summary'] = {
    execTime: 0,
    totalEntriesReturned: 0,
    totalLinesProcessed: 0,
    totalBytesProcessed: 0,
  };
  for (const p of parts) {
    for (const [k, v] of Object.entries(p.stats?.summary ?? {})) {
      if (typeof v === 'number')
        summary[k] = k === 'execTime' ? Math.max(summary[k] ?? 0, v) : (summary[k] ?? 0) + v;
    }
  }
  return { summary };
}

export function mergeStreams(
  parts: { name: string; result: StreamResult[] }[],
  opts: MergeOptions,
): StreamResult[] {
  interface Item {
    key: string;
    value: StreamValue;
  }
  const streams = new Map<string, Labels>();
  const items: Item[] = [];
  for (const part of parts) {
    for (const s of part.result) {
      const labels = labelled(s.stream, opts.instanceLabel, part.name);
      const key = labelKey(labels);
      if (!streams.has(key)) streams.set(key, labels);
      for (const value of s.values) items.push({ key, value });
    }
  }
  const sign = opts.direction === 'backward' ? -1 : 1;
  // Array.prototype.sort is stable: equal times keep instance order.
  items.sort((a, b) => sign * compareNs(a.value[0], b.value[0]));
  const out = new Map<string, StreamResult>();
  for (const item of items.slice(0, Math.max(0, opts.limit))) {
    let s = out.get(item.key);
    if (!s) {
      s = { stream: streams.get(item.key)!, values: [] };
      out.set(item.key, s);
    }
    s.values.push(item.value);
  }
  return [...out.values()];
}

function parseSample(v: string): number {
  if (v === '+Inf' || v === 'Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

function formatSample(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

function combineValues(combine: Combine, a: number, b: number): number {
  return combine === 'sum' ? a + b : combine === 'max' ? Math.max(a, b) : Math.min(a, b);
}

interface Series {
  metric: Labels;
  points: Map<number, number>;
}

function mergeSeries(
  parts: { name: string; series: { metric: Labels; points: [number, string][] }[] }[],
  opts: MergeOptions,
): Series[] {
  const out = new Map<string, Series>();
  for (const part of parts) {
    for (const s of part.series) {
      // Without combining, the instance label keeps each instance's series apart.
      const metric = opts.combine
        ? s.metric
        : labelled(s.metric, opts.instanceLabel ?? 'instance', part.name);
      const key = labelKey(metric);
      let target = out.get(key);
      if (!target) {
        target = { metric, points: new Map() };
        out.set(key, target);
      }
      for (const [t, v] of s.points) {
        const n = parseSample(v);
        const prev = target.points.get(t);
        target.points.set(t, prev === undefined || !opts.combine ? n : combineValues(opts.combine, prev, n));
      }
    }
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, s]) => s);
}

/** Merges the answers of the instances that succeeded. */
export function mergeQueryData(parts: { name: string; data: QueryData }[], opts: MergeOptions): QueryData {
  const stats = mergeStats(parts.map((p) => p.data));
  const types = new Set(parts.map((p) => p.data.resultType));
  if (types.size > 1)
    throw new QueryError(`instances answered with different result types: ${[...types].join(', ')}`);
  const type = parts[0]?.data.resultType ?? 'streams';
  if (type === 'streams') {
    const streamParts = parts.map((p) => ({ name: p.name, result: p.data.result as StreamResult[] }));
    const flags = [
      ...new Set(parts.flatMap((p) => (p.data.resultType === 'streams' ? (p.data.encodingFlags ?? []) : []))),
    ];
    return {
      resultType: 'streams',
      result: mergeStreams(streamParts, opts),
      stats,
      ...(flags.length > 0 ? { encodingFlags: flags } : {}),
    };
  }
  if (type === 'scalar') {
    // Scalars come from constant expressions: every instance computes the same one.
    return { resultType: 'scalar', result: parts[0]!.data.result as [number, string], stats };
  }
  if (type === 'matrix') {
    const merged = mergeSeries(
      parts.map((p) => ({
        name: p.name,
        series: (p.data.result as MatrixResult[]).map((m) => ({ metric: m.metric, points: m.values })),
      })),
      opts,
    );
    const result: MatrixResult[] = merged.map((s) => ({
      metric: s.metric,
      values: [...s.points]
        .sort((a, b) => a[0] - b[0])
        .map(([t, v]): [number, string] => [t, formatSample(v)]),
    }));
    return { resultType: 'matrix', result, stats };
  }
  const merged = mergeSeries(
    parts.map((p) => ({
      name: p.name,
      series: (p.data.result as VectorResult[]).map((v) => ({ metric: v.metric, points: [v.value] })),
    })),
    opts,
  );
  const result: VectorResult[] = merged.map((s) => {
    const [t, v] = [...s.points][0]!;
    return { metric: s.metric, value: [t, formatSample(v)] };
  });
  return { resultType: 'vector', result, stats };
}
