/**
 * Planning: which part of a log selector and its pipeline SQLite decides, and which stages are left for
 * JavaScript. Line filters move into SQL unless a line_format came before them; label filters of string
 * matchers move into SQL while no stage has changed the labels yet (a parser, label_format, drop, keep, or
 * a JavaScript label filter that may mark an error). Filters commute, so the rest keep their order.
 */
import type { Store } from '../store/index.ts';
import { QueryLimitError, type QueryLimits } from './api.ts';
import type { LogSelector, MetricExpr, Query, Stage } from './ast.ts';
import { ERROR_DETAILS_LABEL, ERROR_LABEL } from './labels.ts';
import { parseQuery } from './parser.ts';
import { compilePipeline, type PipelineScope, type StageFn } from './pipeline.ts';
import { sqlRegexp } from './regex.ts';
import {
  ambiguousSession,
  and,
  ConditionBuilder,
  chooseIndex,
  type SqlCondition,
  type SqlScope,
} from './sql.ts';

export interface SourcePlan {
  /** Selector and pushed stages (no time range). */
  where: SqlCondition;
  /** The index that drives the scan (INDEXED BY): ordered by ts within it. */
  index: string;
  /** Stages left for JavaScript, in order. */
  stages: Stage[];
  pipeline: StageFn;
  /** `where` names only rollup columns and no stage is left: the per-minute rollup can answer counts. */
  rollupOk: boolean;
  needsRegexp: boolean;
}

export type QueryScope = SqlScope & PipelineScope;

function isNoOpForRollup(s: Stage): boolean {
  // Without a parser there is no error label, so dropping it changes nothing.
  return (
    s.kind === 'drop' &&
    s.items.every((i) => !i.matcher && (i.name === ERROR_LABEL || i.name === ERROR_DETAILS_LABEL))
  );
}

export function planSource(sel: LogSelector, scope: QueryScope): SourcePlan {
  const b = new ConditionBuilder(scope);
  const conds: SqlCondition[] = [];
  const js: Stage[] = [];
  for (const m of sel.matchers) {
    const c = b.matcher(m, true);
    if (c) conds.push(c);
    else js.push({ kind: 'label_filter', expr: { kind: 'match', matcher: m }, pos: m.pos });
  }
  let labelsTouched = false;
  let lineChanged = false;
  let lineFilters = false;
  // Only `| json` (of the stored line) has changed the labels so far: later filters get a SQL prefilter.
  let onlyJson = false;
  for (const s of sel.stages) {
    if (s.kind === 'line_filter' && !lineChanged) {
      conds.push(b.lineFilter(s));
      lineFilters = true;
      continue;
    }
    if (s.kind === 'label_filter' && !labelsTouched) {
      const c = b.labelFilter(s.expr, true);
      if (c) {
        conds.push(c);
        continue;
      }
    }
    if (s.kind === 'label_filter' && onlyJson) {
      const pre = b.afterJson(s.expr);
      if (pre) conds.push(pre);
    }
    js.push(s);
    if (s.kind === 'json' && !lineChanged && (!labelsTouched || onlyJson)) onlyJson = true;
    else if (s.kind !== 'line_filter' && s.kind !== 'label_filter') onlyJson = false;
    if (s.kind === 'line_format') lineChanged = true;
    else if (s.kind !== 'line_filter') labelsTouched = true;
  }
  return {
    where: and(conds),
    index: chooseIndex(b.indexable),
    stages: js,
    pipeline: compilePipeline(js, scope),
    rollupOk: b.rollupOk && !lineFilters && js.every(isNoOpForRollup),
    needsRegexp: b.needsRegexp,
  };
}

/** Every log selector of a query (one for a log query, one per range aggregation of a metric query). */
export function selectorsOf(q: Query): LogSelector[] {
  if (q.kind === 'log') return [q.selector];
  const out: LogSelector[] = [];
  const walk = (e: MetricExpr) => {
    if (e.kind === 'range') out.push(e.selector);
    else if (e.kind === 'vector_agg') walk(e.expr);
    else if (e.kind === 'binary') {
      walk(e.left);
      walk(e.right);
    }
  };
  walk(q.expr);
  return out;
}

/** The scope a query runs in: foreign labels that occur in its time span, and session prefixes. */
export function queryScope(store: Store | undefined, text: string, fromMs: number, toMs: number): QueryScope {
  const shadowed = new Set<string>();
  if (store) {
    for (const f of store.foreignLabelNames())
      if (f.last_ts > fromMs && f.first_ts <= toMs) shadowed.add(f.name);
  }
  const sessions = new Map<string, string>();
  return {
    shadowed,
    text,
    resolveSession(value: string): string {
      if (!store) return value;
      let full = sessions.get(value);
      if (full === undefined) {
        const r = store.resolveSession(value);
        if (r.ambiguous) throw ambiguousSession(value);
        full = r.id ?? value;
        sessions.set(value, full);
      }
      return full;
    },
  };
}

/** A parsed and planned query (what the parse + plan benchmark measures). */
export interface CompiledQuery {
  query: Query;
  sources: SourcePlan[];
}

export function compile(
  text: string,
  store?: Store,
  fromMs = 0,
  toMs = Number.MAX_SAFE_INTEGER,
): CompiledQuery {
  const query = parseQuery(text);
  const scope = queryScope(store, text, fromMs, toMs);
  return { query, sources: selectorsOf(query).map((s) => planSource(s, scope)) };
}

/** Registers REGEXP on the store's connection the first time a plan needs it. */
export function prepareStore(store: Store, plans: readonly SourcePlan[]): void {
  if (plans.some((p) => p.needsRegexp))
    store.defineFunction('regexp', sqlRegexp as (...args: never[]) => unknown);
}

/** Wall-time budget of one query, checked while rows are read. */
export class Deadline {
  private readonly at: number;
  private n = 0;

  constructor(private readonly limits: QueryLimits) {
    this.at = performance.now() + limits.timeoutMs;
  }

  /** Cheap to call per row: looks at the clock every 256 calls. */
  tick(): void {
    if ((++this.n & 255) === 0) this.check();
  }

  check(): void {
    if (performance.now() > this.at) {
      throw new QueryLimitError(
        `query timed out after ${this.limits.timeoutMs} ms (the query timeout limit)`,
      );
    }
  }
}
