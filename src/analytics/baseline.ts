/**
 * The user's usual: per feature, the median and the median absolute deviation (MAD) over their own history,
 * and robust z-scores z = (x - median) / (1.4826 MAD) that say, in words, which features of a session are far
 * from that usual. 1.4826 MAD estimates the standard deviation of normal data and is not moved by the few
 * outliers a history always holds. When most sessions share one value (MAD = 0), the mean absolute
 * deviation (times 1.2533) is used instead, and at least a floor per kind of feature (1 for counts, 0.05 for
 * ratios...), so that "1 instead of the usual 0" is not infinitely surprising.
 */
import { FEATURES, type FeatureDef, type FeatureVector } from './features.ts';

export interface FeatureStats {
  median: number;
  /** The scale z-scores divide by (see the module comment); always > 0. */
  scale: number;
}

export type Baseline = Record<string, FeatureStats>;

const FLOOR: Record<FeatureDef['kind'], number> = {
  count: 1,
  ratio: 0.05,
  ms: 50,
  minutes: 1,
  rate: 0.5,
  hour: 1,
  score: 0.1,
};

export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const m = n >> 1;
  return n % 2 === 1 ? (sorted[m] as number) : ((sorted[m - 1] as number) + (sorted[m] as number)) / 2;
}

export function robustStats(values: readonly number[], floor: number): FeatureStats {
  const s = [...values].sort((a, b) => a - b);
  const med = median(s);
  const dev = s.map((v) => Math.abs(v - med)).sort((a, b) => a - b);
  let scale = 1.4826 * median(dev);
  if (scale === 0 && dev.length > 0) scale = (1.2533 * dev.reduce((a, b) => a + b, 0)) / dev.length;
  return { median: med, scale: Math.max(scale, floor) };
}

export function buildBaseline(vectors: readonly FeatureVector[]): Baseline {
  const out: Baseline = {};
  for (const f of FEATURES)
    out[f.name] = robustStats(
      vectors.map((v) => v[f.name] ?? 0),
      FLOOR[f.kind],
    );
  return out;
}

export function zScores(v: FeatureVector, baseline: Baseline): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of FEATURES) {
    const s = baseline[f.name];
    out[f.name] = s ? ((v[f.name] ?? 0) - s.median) / s.scale : 0;
  }
  return out;
}

export interface Explanation {
  feature: string;
  value: number;
  usual: number;
  z: number;
  text: string;
}

function num(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 10 ? String(Math.round(v)) : v.toFixed(1);
}

function pct(v: number): string {
  return `${Math.round(v * 100)}%`;
}

/** "38 actions outside the project, 9x your usual (4)" and the like. */
export function describe(def: FeatureDef, value: number, usual: number): string {
  switch (def.kind) {
    case 'ratio':
      return `${def.label}: ${pct(value)}, your usual ${pct(usual)}`;
    case 'hour':
      return `started at ${value}:00, you usually start around ${Math.round(usual)}:00`;
    case 'score':
      return `${def.label} ${value.toFixed(2)}, your usual ${usual.toFixed(2)}`;
    default: {
      const unit = def.kind === 'ms' || def.kind === 'minutes' ? '' : ' ';
      const head = def.kind === 'ms' ? `${num(value)} ${def.label}` : `${num(value)}${unit}${def.label}`;
      if (usual <= 0) return `${head}, usually none`;
      const times = value / usual;
      if (times >= 1.5)
        return `${head}, ${times >= 10 ? Math.round(times) : times.toFixed(1).replace(/\.0$/, '')}x your usual (${num(usual)})`;
      if (times <= 0.67) return `${head}, far below your usual (${num(usual)})`;
      return `${head}, your usual ${num(usual)}`;
    }
  }
}

/**
 * The features of v furthest from the usual, strongest first: |z| >= minZ, at most `max`. Only features
 * above the usual are reported for counts (a short session is not suspicious for what it did not do).
 */
export function explain(v: FeatureVector, baseline: Baseline, max = 5, minZ = 3): Explanation[] {
  const z = zScores(v, baseline);
  const out: Explanation[] = [];
  for (const f of FEATURES) {
    if (f.display) continue;
    const zz = z[f.name] ?? 0;
    const lowerToo = f.kind === 'ratio' || f.kind === 'score';
    if (zz < minZ && !(lowerToo && zz <= -minZ)) continue;
    const usual = baseline[f.name]?.median ?? 0;
    const value = v[f.name] ?? 0;
    out.push({ feature: f.name, value, usual, z: zz, text: describe(f, value, usual) });
  }
  out.sort((a, b) => Math.abs(b.z) - Math.abs(a.z));
  return out.slice(0, max);
}
