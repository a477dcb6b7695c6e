/**
 * Range aggregations (count_over_time, rate, ..., quantile_over_time) evaluated at every step.
 *
 * Samples are summed into buckets of width g = gcd(step, range) on a grid that ends at the evaluation
 * times, so each window (t - offset - range, t - offset] is a run of whole buckets. Buckets come from one of
 * three sources, the cheapest that is exact:
 *  - the per-minute rollup (counts and bytes, whole-minute grids, selectors on rollup labels only, no
 *    pushed foreign line in the span);
 *  - a GROUP BY over events (counts and bytes when the whole pipeline is in SQL);
 *  - rows read in time order through the JavaScript pipeline (everything else).
 * An enclosing `sum by (...)` (or max/min over max/min_over_time) hands its grouping down, so the series
 * are the grouped ones from the start.
 */
import type { Store } from '../store/index.ts';
import { type Labels, QueryError, QueryLimitError, type QueryLimits } from './api.ts';
import type { Grouping, RangeAggregation } from './ast.ts';
import {
  allLabels,
  canonicalLabels,
  deleteLabel,
  type Entry,
  ERROR_DETAILS_LABEL,
  ERROR_LABEL,
  formatLabels,
  LABEL_DEFS,
  LABELS_BY_NAME,
  labelOf,
  labelsKey,
} from './labels.ts';
import { parseNumber } from './literals.ts';
import { type ReadStats, scanEntries } from './logs.ts';
import { convertValue, labelFilter, lineBytes, setError } from './pipeline.ts';
import { type Deadline, planSource, type QueryScope, type SourcePlan } from './plan.ts';
import { labelValueSql } from './sql.ts';

/** Evaluation times: startMs + k * stepMs for k < steps (ms; stepMs > 0). */
export interface Steps {
  startMs: number;
  stepMs: number;
  steps: number;
}

/** One series over the steps: a value where `present[k]` is 1. */
export interface Series {
  labels: Labels;
  values: Float64Array;
  present: Uint8Array;
}

export interface RangeContext {
  store: Store;
  scope: QueryScope;
  limits: QueryLimits;
  deadline: Deadline;
  stats: ReadStats;
  plans: Map<RangeAggregation, SourcePlan>;
}

interface Bucket {
  count: number;
  sum: number;
  min: number;
  max: number;
  values?: number[];
}

class BucketSeries {
  readonly buckets = new Map<number, Bucket>();
  constructor(readonly labels: Labels) {}

  add(j: number, count: number, sum: number, min: number, max: number, value?: number): void {
    let b = this.buckets.get(j);
    if (!b) {
      b = { count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
      this.buckets.set(j, b);
    }
    b.count += count;
    b.sum += sum;
    if (min < b.min) b.min = min;
    if (max > b.max) b.max = max;
    if (value !== undefined) {
      if (!b.values) b.values = [];
      b.values.push(value);
    }
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function project(labels: Labels, g: Grouping | undefined): Labels {
  if (!g) return labels;
  const out: Labels = {};
  if (g.without) {
    for (const k in labels) if (!g.labels.includes(k)) out[k] = labels[k] as string;
  } else {
    for (const k of g.labels) if (labels[k] !== undefined && labels[k] !== '') out[k] = labels[k] as string;
  }
  return out;
}

class SeriesSet {
  private readonly map = new Map<string, BucketSeries>();
  constructor(private readonly limits: QueryLimits) {}

  get(labels: Labels): BucketSeries {
    const key = labelsKey(labels);
    let s = this.map.get(key);
    if (!s) {
      if (this.map.size >= this.limits.maxSeries) {
        throw new QueryLimitError(`maximum of series (${this.limits.maxSeries}) reached for a single query`);
      }
      s = new BucketSeries(canonicalLabels(labels).labels);
      this.map.set(key, s);
    }
    return s;
  }

  all(): BucketSeries[] {
    return [...this.map.values()];
  }
}

const COUNTING = new Set(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time']);

/** Grid of one range aggregation: buckets (base + j*g, base + (j+1)*g], data in (base, last]. */
interface Grid {
  g: number;
  base: number;
  last: number;
}

function gridOf(node: RangeAggregation, steps: Steps): Grid {
  const g = steps.steps > 1 ? gcd(steps.stepMs, node.rangeMs) : node.rangeMs;
  const base = steps.startMs - node.offsetMs - node.rangeMs;
  const last = steps.startMs + (steps.steps - 1) * steps.stepMs - node.offsetMs;
  return { g, base, last };
}

/** One range aggregation being read: what, how, over which grid, grouped how, into which series. */
interface Job {
  node: RangeAggregation;
  plan: SourcePlan;
  grid: Grid;
  projection: Grouping | undefined;
  ctx: RangeContext;
  out: SeriesSet;
}

/** Labels the series are grouped by when SQL can group directly (a `by` list), else undefined. */
function byLabelsOf(job: Job): string[] | undefined {
  if (job.node.fn === 'absent_over_time') return [];
  return job.projection && !job.projection.without ? job.projection.labels : undefined;
}

/** `expr AS g0, ...` and `g0, ...` for grouping by labels in SQL. */
function groupSql(groups: string[], scope: QueryScope): { select: string; by: string } {
  return {
    select: groups.map((l, i) => `, ${labelValueSql(l, scope.shadowed)} AS g${i}`).join(''),
    by: groups.map((_, i) => `, g${i}`).join(''),
  };
}

/** Buckets from the per-minute rollup; false when it cannot answer exactly. */
function fromRollup(job: Job): boolean {
  const { node, plan, grid, ctx, out } = job;
  if (!COUNTING.has(node.fn) || !plan.rollupOk) return false;
  if (grid.g % 60000 !== 0 || grid.base % 60000 !== 0) return false;
  const byLabels = byLabelsOf(job);
  if (
    !byLabels ||
    byLabels.some((l) => LABELS_BY_NAME.get(l)?.rollup === false || ctx.scope.shadowed.has(l))
  ) {
    return false;
  }
  const fromMin = grid.base / 60000;
  const toMin = grid.last / 60000;
  const foreign = ctx.store
    .select('SELECT 1 FROM rollup_minute WHERE foreign_line = 1 AND minute >= ? AND minute < ? LIMIT 1')
    .raw(false)
    .get(fromMin, toMin);
  if (foreign) return false;
  const groups = byLabels.filter((l) => LABELS_BY_NAME.has(l));
  const g = groupSql(groups, ctx.scope);
  const sql =
    `SELECT (minute - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b${g.select}, sum(n) AS n, sum(bytes) AS bytes` +
    ` FROM rollup_minute WHERE foreign_line = 0 AND minute >= ? AND minute < ? AND (${plan.where.sql})` +
    ` GROUP BY b${g.by}`;
  const rows = ctx.store
    .select(sql)
    .raw(true)
    .all(fromMin, grid.g / 60000, fromMin, toMin, ...plan.where.params) as unknown[][];
  for (const r of rows) addGroupRow(r, groups, node, out, ctx);
  return true;
}

function addGroupRow(
  r: unknown[],
  groups: string[],
  node: RangeAggregation,
  out: SeriesSet,
  ctx: RangeContext,
): void {
  const labels: Labels = {};
  groups.forEach((l, i) => {
    const v = r[i + 1];
    if (v === null || v === undefined || v === '') return;
    labels[l] =
      l === 'outside_project_scope' && typeof v === 'number' ? (v === 1 ? 'true' : 'false') : String(v);
  });
  const n = r[groups.length + 1] as number;
  const bytes = r[groups.length + 2] as number;
  ctx.stats.lines += n;
  ctx.stats.bytes += bytes;
  const sum = node.fn === 'bytes_over_time' || node.fn === 'bytes_rate' ? bytes : n;
  out.get(labels).add(r[0] as number, n, sum, sum, sum);
}

/** Buckets from a GROUP BY over events, when the whole pipeline runs in SQL. */
function fromEventsGroupBy(job: Job): boolean {
  const { node, plan, grid, projection, ctx, out } = job;
  if (!COUNTING.has(node.fn) || plan.stages.length > 0) return false;
  const byLabels = byLabelsOf(job);
  const names = byLabels ?? [...LABEL_DEFS.map((d) => d.name), ...ctx.scope.shadowed];
  const groups = [...new Set(names)];
  const g = groupSql(groups, ctx.scope);
  const sql =
    `SELECT (ts - CAST(? AS INTEGER) - 1) / CAST(? AS INTEGER) AS b${g.select}, count(*) AS n,` +
    ` sum(line_bytes) AS bytes FROM events INDEXED BY ${plan.index}` +
    ` WHERE ts > ? AND ts <= ? AND (${plan.where.sql}) GROUP BY b${g.by}`;
  const stmt = ctx.store.select(sql).raw(true);
  const bucketed = new SeriesSet({ ...ctx.limits, maxSeries: Number.MAX_SAFE_INTEGER });
  const rows = stmt.iterate(grid.base, grid.g, grid.base, grid.last, ...plan.where.params) as Iterable<
    unknown[]
  >;
  for (const r of rows) {
    ctx.deadline.tick();
    addGroupRow(r, groups, node, bucketed, ctx);
  }
  // Rows whose label sets only differ in NULL vs '' or in grouped-away labels merge here.
  for (const s of bucketed.all()) {
    const target = out.get(project(s.labels, byLabels ? undefined : projection));
    for (const [j, b] of s.buckets) target.add(j, b.count, b.sum, b.min, b.max);
  }
  return true;
}

const UNWRAP_HINT =
  'Use a label filter to intentionally skip this error. (e.g | __error__!="%s"). To skip all potential errors you can match empty errors.(e.g __error__="") The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )';

/** Buckets from rows read through the JavaScript pipeline. */
function fromRows(job: Job): void {
  const { node, plan, grid, projection, ctx, out } = job;
  const unwrap = node.unwrap;
  const post = unwrap?.filters.map((f) => labelFilter(f, ctx.scope)) ?? [];
  const sample = (e: Entry): number => {
    if (!unwrap) return node.fn === 'bytes_over_time' || node.fn === 'bytes_rate' ? lineBytes(e) : 1;
    const raw = labelOf(e, unwrap.label);
    const kind =
      unwrap.conversion === 'none' ? 'number' : unwrap.conversion === 'bytes' ? 'bytes' : 'duration';
    const v = kind === 'number' ? parseNumber(raw) : convertValue(kind, raw);
    deleteLabel(e, unwrap.label);
    if (v === undefined) {
      setError(e, 'SampleExtractionErr', `cannot read "${raw}" as a ${kind === 'number' ? 'number' : kind}`);
      return 0;
    }
    return v;
  };
  const quantile = node.fn === 'quantile_over_time';
  for (const e of scanEntries(
    ctx.store,
    plan,
    { afterMs: grid.base, toMs: grid.last },
    'ASC',
    ctx.deadline,
    ctx.stats,
  )) {
    if (!plan.pipeline(e)) continue;
    const v = sample(e);
    if (!post.every((f) => f(e))) continue;
    const err = labelOf(e, ERROR_LABEL);
    const labels = allLabels(e);
    if (err !== '') {
      delete labels[ERROR_DETAILS_LABEL];
      throw new QueryError(
        `pipeline error: '${err}' for series: '${formatLabels(labels)}'. ${UNWRAP_HINT.replace('%s', err)}`,
      );
    }
    const j = Math.floor((e.ts - grid.base - 1) / grid.g);
    out.get(project(labels, projection)).add(j, 1, v, v, v, quantile ? v : undefined);
  }
}

function quantileOf(values: number[], phi: number): number {
  if (values.length === 0) return Number.NaN;
  if (phi < 0) return Number.NEGATIVE_INFINITY;
  if (phi > 1) return Number.POSITIVE_INFINITY;
  const s = [...values].sort((a, b) => a - b);
  const rank = phi * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  const w = rank - lo;
  return (s[lo] as number) * (1 - w) + (s[hi] as number) * w;
}

/** Window values of one bucketed series at every step. */
function windows(node: RangeAggregation, s: BucketSeries, grid: Grid, steps: Steps): Series {
  const keys = [...s.buckets.keys()].sort((a, b) => a - b);
  const bs = keys.map((k) => s.buckets.get(k) as Bucket);
  const counts = new Float64Array(keys.length + 1);
  const sums = new Float64Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) {
    counts[i + 1] = (counts[i] as number) + (bs[i] as Bucket).count;
    sums[i + 1] = (sums[i] as number) + (bs[i] as Bucket).sum;
  }
  const values = new Float64Array(steps.steps);
  const present = new Uint8Array(steps.steps);
  const per = steps.steps > 1 ? steps.stepMs / grid.g : 0;
  const width = node.rangeMs / grid.g;
  const seconds = node.rangeMs / 1000;
  let a = 0;
  let b = 0;
  for (let k = 0; k < steps.steps; k++) {
    const lo = k * per;
    const hi = lo + width - 1;
    while (a < keys.length && (keys[a] as number) < lo) a++;
    if (b < a) b = a;
    while (b < keys.length && (keys[b] as number) <= hi) b++;
    const n = (counts[b] as number) - (counts[a] as number);
    if (n === 0) continue;
    const sum = (sums[b] as number) - (sums[a] as number);
    let v: number;
    switch (node.fn) {
      case 'count_over_time':
      case 'bytes_over_time':
      case 'sum_over_time':
        v = sum;
        break;
      case 'rate':
      case 'bytes_rate':
        v = sum / seconds;
        break;
      case 'avg_over_time':
        v = sum / n;
        break;
      case 'min_over_time':
      case 'max_over_time': {
        v = node.fn === 'min_over_time' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
        for (let i = a; i < b; i++) {
          const x = bs[i] as Bucket;
          v = node.fn === 'min_over_time' ? Math.min(v, x.min) : Math.max(v, x.max);
        }
        break;
      }
      case 'quantile_over_time': {
        const all: number[] = [];
        for (let i = a; i < b; i++) all.push(...((bs[i] as Bucket).values ?? []));
        v = quantileOf(all, node.param ?? 0);
        break;
      }
      default:
        v = n;
    }
    values[k] = v;
    present[k] = 1;
  }
  return { labels: s.labels, values, present };
}

/** absent_over_time: 1 where no sample falls in the window, labelled by the selector's equality matchers. */
function absent(node: RangeAggregation, all: Series[], steps: Steps): Series[] {
  const labels: Labels = {};
  const seen = new Map<string, number>();
  for (const m of node.selector.matchers) seen.set(m.name, (seen.get(m.name) ?? 0) + 1);
  for (const m of node.selector.matchers)
    if (m.op === '=' && seen.get(m.name) === 1) labels[m.name] = m.value;
  const values = new Float64Array(steps.steps);
  const present = new Uint8Array(steps.steps);
  for (let k = 0; k < steps.steps; k++) {
    if (all.some((s) => s.present[k] === 1)) continue;
    values[k] = 1;
    present[k] = 1;
  }
  return present.includes(1) ? [{ labels, values, present }] : [];
}

export function planFor(node: RangeAggregation, ctx: RangeContext): SourcePlan {
  let p = ctx.plans.get(node);
  if (!p) {
    p = planSource(node.selector, ctx.scope);
    ctx.plans.set(node, p);
  }
  return p;
}

/** Which path answered, for tests and the benchmark. */
export type RangeSource = 'rollup' | 'groupby' | 'rows';

export function evalRange(
  node: RangeAggregation,
  steps: Steps,
  projection: Grouping | undefined,
  ctx: RangeContext,
  force?: RangeSource,
): { series: Series[]; source: RangeSource } {
  const grid = gridOf(node, steps);
  const out = new SeriesSet(ctx.limits);
  const job: Job = {
    node,
    plan: planFor(node, ctx),
    grid,
    projection: node.grouping ?? projection,
    ctx,
    out,
  };
  let source: RangeSource = 'rows';
  if (force !== 'rows' && force !== 'groupby' && fromRollup(job)) source = 'rollup';
  else if (force !== 'rows' && fromEventsGroupBy(job)) source = 'groupby';
  else fromRows(job);
  const series = out.all().map((s) => windows(node, s, grid, steps));
  return { series: node.fn === 'absent_over_time' ? absent(node, series, steps) : series, source };
}
