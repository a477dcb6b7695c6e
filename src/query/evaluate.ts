/**
 * Metric expressions over the steps of a query: range aggregations (range.ts), vector aggregations with
 * by/without, topk/bottomk, vector(), literals and binary operators with Prometheus's matching rules
 * (one-to-one on all labels or on/ignoring; set operators per step).
 */

import { type Labels, QueryError, QueryLimitError } from './api.ts';
import type { ArithmeticOp, BinaryOp, CmpOp, Grouping, MetricExpr, VectorMatching } from './ast.ts';
import { formatLabels, labelsKey } from './labels.ts';
import { compare } from './pipeline.ts';
import { evalRange, type RangeContext, type Series, type Steps } from './range.ts';

export type Value = { kind: 'vector'; series: Series[] } | { kind: 'scalar'; values: Float64Array };

function filled(n: number, v: number): Float64Array {
  return new Float64Array(n).fill(v);
}

function groupLabels(labels: Labels, g: Grouping | undefined): Labels {
  const out: Labels = {};
  if (!g) return out;
  if (g.without) {
    for (const k in labels) if (!g.labels.includes(k)) out[k] = labels[k] as string;
  } else {
    for (const k of g.labels) if (labels[k] !== undefined) out[k] = labels[k] as string;
  }
  return out;
}

/** Range functions whose per-window value an enclosing aggregation of this op may compute directly. */
const PUSHABLE: Record<string, string[]> = {
  sum: ['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time'],
  max: ['max_over_time'],
  min: ['min_over_time'],
};

function aggregate(
  op: string,
  param: number | undefined,
  g: Grouping | undefined,
  input: Series[],
  steps: number,
): Series[] {
  const groups = new Map<string, { labels: Labels; members: Series[] }>();
  for (const s of input) {
    const labels = groupLabels(s.labels, g);
    const key = labelsKey(labels);
    let grp = groups.get(key);
    if (!grp) {
      grp = { labels, members: [] };
      groups.set(key, grp);
    }
    grp.members.push(s);
  }
  if (op === 'topk' || op === 'bottomk') return selectK(op, param as number, [...groups.values()], steps);
  const out: Series[] = [];
  for (const grp of groups.values()) {
    const values = new Float64Array(steps);
    const present = new Uint8Array(steps);
    for (let k = 0; k < steps; k++) {
      let n = 0;
      let acc = 0;
      for (const s of grp.members) {
        if (s.present[k] !== 1) continue;
        const v = s.values[k] as number;
        if (n === 0) acc = op === 'count' ? 1 : v;
        else if (op === 'sum' || op === 'avg') acc += v;
        else if (op === 'count') acc += 1;
        else if (op === 'min') acc = v < acc || Number.isNaN(acc) ? v : acc;
        else if (op === 'max') acc = v > acc || Number.isNaN(acc) ? v : acc;
        n++;
      }
      if (n === 0) continue;
      values[k] = op === 'avg' ? acc / n : acc;
      present[k] = 1;
    }
    if (present.includes(1)) out.push({ labels: grp.labels, values, present });
  }
  return out;
}

function selectK(op: string, k: number, groups: { members: Series[] }[], steps: number): Series[] {
  const picked = new Map<Series, Series>();
  const better = (a: number, b: number) => {
    if (Number.isNaN(a)) return false;
    if (Number.isNaN(b)) return true;
    return op === 'topk' ? a > b : a < b;
  };
  for (const grp of groups) {
    for (let t = 0; t < steps; t++) {
      const live = grp.members.filter((s) => s.present[t] === 1);
      live.sort((a, b) =>
        better(a.values[t] as number, b.values[t] as number)
          ? -1
          : better(b.values[t] as number, a.values[t] as number)
            ? 1
            : 0,
      );
      for (const s of live.slice(0, k)) {
        let o = picked.get(s);
        if (!o) {
          o = { labels: s.labels, values: new Float64Array(steps), present: new Uint8Array(steps) };
          picked.set(s, o);
        }
        o.values[t] = s.values[t] as number;
        o.present[t] = 1;
      }
    }
  }
  return [...picked.values()];
}

function arithmetic(op: ArithmeticOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return a ** b;
  }
}

const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^']);

/** a op b for one pair of samples: the value to keep, or undefined to drop it. */
function apply(op: BinaryOp, bool: boolean, a: number, b: number, keep: number): number | undefined {
  if (ARITHMETIC.has(op)) return arithmetic(op as ArithmeticOp, a, b);
  const ok = compare(a, op as CmpOp, b);
  if (bool) return ok ? 1 : 0;
  return ok ? keep : undefined;
}

function matchKey(labels: Labels, m: VectorMatching | undefined): string {
  if (!m) return labelsKey(labels);
  const out: Labels = {};
  if (m.on) {
    for (const l of m.labels) if (labels[l] !== undefined) out[l] = labels[l] as string;
  } else {
    for (const k in labels) if (!m.labels.includes(k)) out[k] = labels[k] as string;
  }
  return labelsKey(out);
}

function resultLabels(labels: Labels, m: VectorMatching | undefined): Labels {
  if (!m) return labels;
  const out: Labels = {};
  if (m.on) {
    for (const l of m.labels) if (labels[l] !== undefined) out[l] = labels[l] as string;
  } else {
    for (const k in labels) if (!m.labels.includes(k)) out[k] = labels[k] as string;
  }
  return out;
}

function setOperation(
  op: 'and' | 'or' | 'unless',
  m: VectorMatching | undefined,
  left: Series[],
  right: Series[],
  steps: number,
): Series[] {
  const rightKeys = right.map((s) => matchKey(s.labels, m));
  const leftKeys = left.map((s) => matchKey(s.labels, m));
  const presentAt = (keys: string[], series: Series[], t: number) => {
    const set = new Set<string>();
    series.forEach((s, i) => {
      if (s.present[t] === 1) set.add(keys[i] as string);
    });
    return set;
  };
  const out = left.map((s) => ({
    labels: s.labels,
    values: new Float64Array(steps),
    present: new Uint8Array(steps),
  }));
  const extra =
    op === 'or'
      ? right.map((s) => ({
          labels: s.labels,
          values: new Float64Array(steps),
          present: new Uint8Array(steps),
        }))
      : [];
  for (let t = 0; t < steps; t++) {
    const r = presentAt(rightKeys, right, t);
    left.forEach((s, i) => {
      if (s.present[t] !== 1) return;
      const has = r.has(leftKeys[i] as string);
      if (op === 'and' ? has : op === 'unless' ? !has : true) {
        (out[i] as Series).values[t] = s.values[t] as number;
        (out[i] as Series).present[t] = 1;
      }
    });
    if (op === 'or') {
      const l = presentAt(leftKeys, left, t);
      right.forEach((s, i) => {
        if (s.present[t] !== 1 || l.has(rightKeys[i] as string)) return;
        (extra[i] as Series).values[t] = s.values[t] as number;
        (extra[i] as Series).present[t] = 1;
      });
    }
  }
  return [...out, ...extra].filter((s) => s.present.includes(1));
}

function vectorVector(
  op: BinaryOp,
  bool: boolean,
  m: VectorMatching | undefined,
  left: Series[],
  right: Series[],
  steps: number,
): Series[] {
  if (op === 'and' || op === 'or' || op === 'unless') return setOperation(op, m, left, right, steps);
  const byKey = new Map<string, Series>();
  for (const s of right) {
    const key = matchKey(s.labels, m);
    if (byKey.has(key)) {
      throw new QueryError(
        `found duplicate series for the match group ${formatLabels(resultLabels(s.labels, m ?? { on: false, labels: [] }))} on the right hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    byKey.set(key, s);
  }
  const out = new Map<string, Series>();
  for (const s of left) {
    const r = byKey.get(matchKey(s.labels, m));
    if (!r) continue;
    const labels = resultLabels(s.labels, m);
    const key = labelsKey(labels);
    if (out.has(key)) {
      throw new QueryError(
        `multiple matches for labels ${formatLabels(labels)}: many-to-one matching must be explicit (group_left/group_right)`,
      );
    }
    const values = new Float64Array(steps);
    const present = new Uint8Array(steps);
    for (let t = 0; t < steps; t++) {
      if (s.present[t] !== 1 || r.present[t] !== 1) continue;
      const v = apply(op, bool, s.values[t] as number, r.values[t] as number, s.values[t] as number);
      if (v === undefined) continue;
      values[t] = v;
      present[t] = 1;
    }
    if (present.includes(1)) out.set(key, { labels, values, present });
  }
  return [...out.values()];
}

function vectorScalar(
  op: BinaryOp,
  bool: boolean,
  vec: Series[],
  scalar: Float64Array,
  scalarLeft: boolean,
  steps: number,
): Series[] {
  const out: Series[] = [];
  for (const s of vec) {
    const values = new Float64Array(steps);
    const present = new Uint8Array(steps);
    for (let t = 0; t < steps; t++) {
      if (s.present[t] !== 1) continue;
      const x = s.values[t] as number;
      const y = scalar[t] as number;
      const v = scalarLeft ? apply(op, bool, y, x, x) : apply(op, bool, x, y, x);
      if (v === undefined) continue;
      values[t] = v;
      present[t] = 1;
    }
    if (present.includes(1)) out.push({ labels: s.labels, values, present });
  }
  return out;
}

export function evaluate(e: MetricExpr, steps: Steps, ctx: RangeContext): Value {
  const n = steps.steps;
  switch (e.kind) {
    case 'literal':
      return { kind: 'scalar', values: filled(n, e.value) };
    case 'vector':
      return {
        kind: 'vector',
        series: [{ labels: {}, values: filled(n, e.value), present: new Uint8Array(n).fill(1) }],
      };
    case 'range':
      return { kind: 'vector', series: evalRange(e, steps, undefined, ctx).series };
    case 'vector_agg': {
      const inner = e.expr;
      let input: Series[];
      if (inner.kind === 'range' && !inner.grouping && PUSHABLE[e.op]?.includes(inner.fn)) {
        input = evalRange(inner, steps, e.grouping ?? { without: false, labels: [] }, ctx).series;
      } else {
        const v = evaluate(inner, steps, ctx);
        if (v.kind !== 'vector') throw new QueryError(`${e.op} expects an instant vector, got a scalar`);
        input = v.series;
      }
      const out = aggregate(e.op, e.param, e.grouping, input, n);
      if (out.length > ctx.limits.maxSeries) {
        throw new QueryLimitError(`maximum of series (${ctx.limits.maxSeries}) reached for a single query`);
      }
      return { kind: 'vector', series: out };
    }
    case 'binary': {
      const l = evaluate(e.left, steps, ctx);
      const r = evaluate(e.right, steps, ctx);
      if (l.kind === 'scalar' && r.kind === 'scalar') {
        const values = new Float64Array(n);
        for (let t = 0; t < n; t++)
          values[t] = apply(e.op, true, l.values[t] as number, r.values[t] as number, 0) as number;
        return { kind: 'scalar', values };
      }
      if (l.kind === 'vector' && r.kind === 'vector') {
        return { kind: 'vector', series: vectorVector(e.op, e.bool, e.matching, l.series, r.series, n) };
      }
      if (l.kind === 'vector' && r.kind === 'scalar') {
        return { kind: 'vector', series: vectorScalar(e.op, e.bool, l.series, r.values, false, n) };
      }
      return {
        kind: 'vector',
        series: vectorScalar(
          e.op,
          e.bool,
          (r as { series: Series[] }).series,
          (l as { values: Float64Array }).values,
          true,
          n,
        ),
      };
    }
  }
}
