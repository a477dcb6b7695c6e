/**
 * The anomaly model and the risk score. One model per kind of group (sessions, agents), each trained on the
 * user's own history: an Isolation Forest over the model features (counts on a log scale), the robust
 * baseline that explains a score, and the distribution of the training scores that turns a raw score into
 * a 0-100 anomaly risk. With fewer than MIN_HISTORY groups a kind stays in cold start: nothing is flagged
 * as unusual, and the risk comes from rule hits alone.
 */
import { type Baseline, buildBaseline, type Explanation, explain, robustStats } from './baseline.ts';
import { FEATURES, type FeatureVector, MODEL_FEATURES } from './features.ts';
import { type ForestJson, IsolationForest } from './forest.ts';

export const MODEL_VERSION = 1;
/** Sessions (or agents) of history needed before anything is called unusual. */
export const MIN_HISTORY = 30;
export const DEFAULT_SEED = 20_260_101;

export interface KindModel {
  /** Groups the model was trained on. */
  n: number;
  coldStart: boolean;
  baseline?: Baseline;
  forest?: ForestJson;
  /** Training scores: median and 99th percentile. */
  scores?: { p50: number; p99: number };
  /** Median and scale of each model row column (log scale for counts): the tail check. */
  rows?: { median: number[]; scale: number[] };
}

export interface AnalyticsModel {
  version: number;
  trainedAt: string;
  seed: number;
  features: string[];
  session: KindModel;
  agent: KindModel;
  /** Domains of the history, with the time (ms) each was first seen: `new_domains` counts the others. */
  domains: Record<string, number>;
}

export interface TrainOptions {
  seed?: number;
  trees?: number;
  sampleSize?: number;
  minHistory?: number;
}

/** Scale floors of the tail check: a log1p step of 0.35 is about x1.4; ratios and scores move by 0.1. */
const LOG_FLOOR = 0.35;
const RATIO_FLOOR = 0.1;

/**
 * Tail check: the largest robust z-score of the row above the training median (log scale for counts),
 * mapped to 0-100 from z = 4 (0) to z = 10 (100). It sees what the forest cannot: a feature that never
 * varied in the history (no split can be drawn on it) and now does, like the first touches of credentials.
 */
export function tailRisk(row: readonly number[], rows: { median: number[]; scale: number[] }): number {
  let zmax = 0;
  for (let c = 0; c < row.length; c++) {
    const z = ((row[c] as number) - (rows.median[c] as number)) / (rows.scale[c] as number);
    if (z > zmax) zmax = z;
  }
  return 100 * Math.min(1, Math.max(0, (zmax - 4) / 6));
}

/** The row the forest sees: model features in order, counts and durations as log1p. */
export function modelRow(v: FeatureVector): number[] {
  return MODEL_FEATURES.map((i) => {
    const f = FEATURES[i]!;
    const x = v[f.name] ?? 0;
    return f.log ? Math.log1p(Math.max(0, x)) : x;
  });
}

const forests = new WeakMap<ForestJson, IsolationForest>();
function forestOf(j: ForestJson): IsolationForest {
  let f = forests.get(j);
  if (!f) {
    f = IsolationForest.fromJSON(j);
    forests.set(j, f);
  }
  return f;
}

export function trainKind(vectors: readonly FeatureVector[], opts: TrainOptions = {}): KindModel {
  const need = opts.minHistory ?? MIN_HISTORY;
  if (vectors.length < need) return { n: vectors.length, coldStart: true };
  const rows = vectors.map(modelRow);
  const forest = IsolationForest.fit(rows, {
    seed: opts.seed ?? DEFAULT_SEED,
    trees: opts.trees ?? 100,
    sampleSize: opts.sampleSize ?? 256,
  });
  const scores = rows.map((r) => forest.score(r)).sort((a, b) => a - b);
  const at = (p: number) => scores[Math.min(scores.length - 1, Math.floor(p * scores.length))] as number;
  const json = forest.toJSON();
  forests.set(json, forest);
  const cols = MODEL_FEATURES.map((fi, c) =>
    robustStats(
      rows.map((r) => r[c] as number),
      FEATURES[fi]!.log ? LOG_FLOOR : RATIO_FLOOR,
    ),
  );
  return {
    n: vectors.length,
    coldStart: false,
    baseline: buildBaseline(vectors),
    forest: json,
    scores: { p50: at(0.5), p99: at(0.99) },
    rows: { median: cols.map((c) => c.median), scale: cols.map((c) => c.scale) },
  };
}

export function train(
  sessions: readonly FeatureVector[],
  agents: readonly FeatureVector[],
  domains: Record<string, number>,
  opts: TrainOptions = {},
  now = new Date(),
): AnalyticsModel {
  const seed = opts.seed ?? DEFAULT_SEED;
  return {
    version: MODEL_VERSION,
    trainedAt: now.toISOString(),
    seed,
    features: FEATURES.map((f) => f.name),
    session: trainKind(sessions, { ...opts, seed }),
    agent: trainKind(agents, { ...opts, seed: seed + 1 }),
    domains,
  };
}

/** Risk from rule hits alone: 100 (1 - exp(-w / 40)), w = 60 critical + 25 high + 8 medium + 1 low/info. */
export function ruleRisk(v: FeatureVector): number {
  const w =
    60 * (v.rule_hits_critical ?? 0) +
    25 * (v.rule_hits_high ?? 0) +
    8 * (v.rule_hits_medium ?? 0) +
    (v.rule_hits_low ?? 0);
  return 100 * (1 - Math.exp(-w / 40));
}

export interface Risk {
  /** 0-100: rule risk and anomaly risk combined as independent chances, 100 (1 - (1 - r)(1 - a)). */
  risk: number;
  ruleRisk: number;
  /** 0-100, null in cold start: the larger of the forest's risk (anomalyRisk()) and the tail check (tailRisk()). */
  anomalyRisk: number | null;
  /** Isolation Forest score in (0, 1], null in cold start. */
  anomalyScore: number | null;
  coldStart: boolean;
  /** Why, in words: rule hits, then the features furthest from the usual. */
  reasons: string[];
  explanations: Explanation[];
}

/**
 * Anomaly risk: where the score lies between the training median (0) and twice the distance from the
 * median to the training 99th percentile (100); a score at the training p99 gets 50.
 */
export function anomalyRisk(score: number, scores: { p50: number; p99: number }): number {
  const span = Math.max(0.02, 2 * (scores.p99 - scores.p50));
  return 100 * Math.min(1, Math.max(0, (score - scores.p50) / span));
}

export function riskOf(v: FeatureVector, kind: KindModel, minHistory = MIN_HISTORY): Risk {
  const rr = ruleRisk(v);
  const reasons: string[] = [];
  const hits = (['critical', 'high', 'medium', 'low'] as const)
    .map((s) => [s, v[`rule_hits_${s}`] ?? 0] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  if (hits.length > 0) reasons.push(`security rule hits: ${hits.join(', ')}`);
  if (kind.coldStart || !kind.forest || !kind.baseline || !kind.scores) {
    reasons.push(
      `not enough history to say what is unusual: ${kind.n} of ${minHistory} needed (rule hits only until then)`,
    );
    return {
      risk: round1(rr),
      ruleRisk: round1(rr),
      anomalyRisk: null,
      anomalyScore: null,
      coldStart: true,
      reasons,
      explanations: [],
    };
  }
  const row = modelRow(v);
  const score = forestOf(kind.forest).score(row);
  const ar = Math.max(anomalyRisk(score, kind.scores), kind.rows ? tailRisk(row, kind.rows) : 0);
  const explanations = explain(v, kind.baseline);
  for (const e of explanations) reasons.push(e.text);
  const risk = 100 * (1 - (1 - rr / 100) * (1 - ar / 100));
  return {
    risk: round1(risk),
    ruleRisk: round1(rr),
    anomalyRisk: round1(ar),
    anomalyScore: Math.round(score * 10_000) / 10_000,
    coldStart: false,
    reasons,
    explanations,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
