/**
 * What the dashboard's Analytics view reads: the scores kept in `<data dir>/analytics/scores.db` by the
 * collector's scorer and the `analytics` command, and the model's baseline. Every call is a few indexed
 * queries on the scores file (no event is read), so answers stay fast whatever the size of the store.
 *
 *   const reader = AnalyticsReader.open(paths.home);
 *   reader.status();                                  // model, cold start, how many sessions are scored
 *   reader.listAnomalies({ since, until, limit });    // sessions by risk, with their reasons
 *   reader.sessionVsBaseline(sessionId);              // every feature against the user's usual
 *   reader.riskTrends({ since, until, bucketMs });    // risk and anomalies per time bucket
 *   reader.close();
 *
 * Before anything was scored (or with no scores file yet) the lists are empty and `status()` says why.
 */
import { existsSync } from 'node:fs';
import { DEFAULT_ALERT_THRESHOLD, SavedModel } from './analyze.ts';
import type { Baseline, Explanation } from './baseline.ts';
import { FEATURES, type FeatureKind, type FeatureVector } from './features.ts';
import { MIN_HISTORY, type Risk } from './model.ts';
import { type AgentScore, ScoreDb, type ScoreRow, scoresFile } from './scores.ts';

export interface AnalyticsStatus {
  /** The model in use, or null before the first training. */
  model: {
    trainedAt: string;
    sessions: number;
    agents: number;
    coldStart: boolean;
    minHistory: number;
  } | null;
  /** Sessions with a stored score, and when the latest was scored (ISO). */
  scoredSessions: number;
  lastScoredAt: string | null;
  /** Sessions that raised an anomaly alert. */
  alertedSessions: number;
  /** Anomaly risk from which a session alerts. */
  threshold: number;
  /** One sentence for an empty or cold view: why there is nothing (yet) to call unusual. */
  message: string;
}

export interface AnomalyQuery {
  /** Sessions active in [since, until) (ms); default all. */
  since?: number;
  until?: number;
  /** Only sessions whose risk is at least this. */
  minRisk?: number;
  project?: string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** `risk` (default): riskiest first; `recent`: latest activity first. */
  order?: 'risk' | 'recent';
}

export interface AnomalyItem {
  session: string;
  project: string;
  /** ISO times of the first and last event, and of the score. */
  start: string;
  end: string;
  scoredAt: string;
  toolCalls: number;
  /** 0-100, rule risk and anomaly risk combined. */
  risk: number;
  ruleRisk: number;
  /** null in cold start. */
  anomalyRisk: number | null;
  anomalyScore: number | null;
  coldStart: boolean;
  /** In words: rule hits, then the features furthest from the usual (or the cold-start sentence). */
  reasons: string[];
  /** Whether the session raised its anomaly alert. */
  alerted: boolean;
  /** Its agents (`main` and subagents), riskiest first. */
  agents: { agent: string; toolCalls: number; risk: number; anomalyRisk: number | null; reasons: string[] }[];
}

export interface AnomalyList {
  /** Sessions matching the query (before the limit). */
  total: number;
  sessions: AnomalyItem[];
}

export interface FeatureComparison {
  name: string;
  label: string;
  kind: FeatureKind;
  value: number;
  /** The user's median, the scale z divides by, and z; null in cold start. */
  usual: number | null;
  scale: number | null;
  z: number | null;
  /** Among the reasons (|z| >= 3 in the direction that matters). */
  unusual: boolean;
  /** Seen by the anomaly model (false for display-only features such as the hour of day). */
  inModel: boolean;
}

export interface SessionAnalytics extends Omit<AnomalyItem, 'agents'> {
  features: FeatureComparison[];
  agents: {
    agent: string;
    toolCalls: number;
    risk: Risk;
    features: FeatureComparison[];
  }[];
  /** Features per clock hour of the session. */
  hours: { hour: string; features: FeatureVector }[];
  /** The model the comparison uses (its training time), null when there is none. */
  modelTrainedAt: string | null;
}

export interface TrendQuery {
  since: number;
  until: number;
  /** Bucket width in ms (default: one hour up to 2 days of range, else one day). */
  bucketMs?: number;
  project?: string;
  threshold?: number;
}

export interface TrendPoint {
  /** Start of the bucket (ms); sessions count in the bucket of their first event. */
  t: number;
  sessions: number;
  meanRisk: number;
  maxRisk: number;
  /** Sessions whose anomaly risk reached the threshold, and those whose risk did. */
  anomalies: number;
  highRisk: number;
  /** Anomaly alerts raised in the bucket. */
  alerts: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const round1 = (x: number) => Math.round(x * 10) / 10;

function compare(v: FeatureVector, baseline: Baseline | undefined, reasons: ReadonlySet<string>) {
  return FEATURES.map((f): FeatureComparison => {
    const value = v[f.name] ?? 0;
    const s = baseline?.[f.name];
    return {
      name: f.name,
      label: f.label,
      kind: f.kind,
      value,
      usual: s ? s.median : null,
      scale: s ? s.scale : null,
      z: s ? (value - s.median) / s.scale : null,
      unusual: reasons.has(f.name),
      inModel: f.display !== true,
    };
  });
}

const ALERTED = 'a.session_id IS NOT NULL AS alerted';
const JOIN_ALERTED = 'LEFT JOIN alerted a ON a.session_id = s.session_id';

type HeadRow = Pick<
  ScoreRow,
  | 'session_id'
  | 'project'
  | 'first_ts'
  | 'last_ts'
  | 'scored_ts'
  | 'tool_calls'
  | 'risk'
  | 'rule_risk'
  | 'anomaly_risk'
  | 'anomaly_score'
  | 'cold_start'
  | 'reasons'
> & { alerted: number };

/** The fields of a listed session, from its score row. */
function headOf(r: HeadRow): Omit<AnomalyItem, 'agents'> {
  return {
    session: r.session_id,
    project: r.project,
    start: iso(r.first_ts),
    end: iso(r.last_ts),
    scoredAt: iso(r.scored_ts),
    toolCalls: r.tool_calls,
    risk: r.risk,
    ruleRisk: r.rule_risk,
    anomalyRisk: r.anomaly_risk,
    anomalyScore: r.anomaly_score,
    coldStart: r.cold_start === 1,
    reasons: JSON.parse(r.reasons) as string[],
    alerted: r.alerted === 1,
  };
}

/** The WHERE clause of an anomaly query on session_scores (aliased `s`). */
function where(q: AnomalyQuery) {
  const w: string[] = [];
  const p: (string | number)[] = [];
  const add = (cond: string, v: string | number | undefined) => {
    if (v === undefined) return;
    w.push(cond);
    p.push(v);
  };
  add('s.last_ts >= ?', q.since);
  add('s.first_ts < ?', q.until);
  add('s.project = ?', q.project);
  add('s.risk >= ?', q.minRisk);
  return { sql: w.length > 0 ? ` WHERE ${w.join(' AND ')}` : '', params: p };
}

export class AnalyticsReader {
  private db: ScoreDb | undefined;
  private readonly saved: SavedModel;

  private constructor(
    readonly home: string,
    private readonly threshold: number,
  ) {
    this.saved = new SavedModel(home);
  }

  /** A reader of a data dir's analytics; cheap, and valid before any score exists. */
  static open(home: string, threshold = DEFAULT_ALERT_THRESHOLD): AnalyticsReader {
    return new AnalyticsReader(home, threshold);
  }

  private scores(): ScoreDb | undefined {
    if (!this.db && existsSync(scoresFile(this.home))) this.db = ScoreDb.open(this.home);
    return this.db;
  }

  status(): AnalyticsStatus {
    const m = this.saved.get();
    const db = this.scores();
    const agg = db?.db.prepare('SELECT count(*) AS n, max(scored_ts) AS last FROM session_scores').get() as
      | { n: number; last: number | null }
      | undefined;
    const alerted = db ? (db.db.prepare('SELECT count(*) AS n FROM alerted').get() as { n: number }).n : 0;
    const model = m
      ? {
          trainedAt: m.trainedAt,
          sessions: m.session.n,
          agents: m.agent.n,
          coldStart: m.session.coldStart,
          minHistory: MIN_HISTORY,
        }
      : null;
    const scored = agg?.n ?? 0;
    const message = !model
      ? 'no model yet: the collector trains one on your history when it starts (or run claude-telemetry analytics)'
      : model.coldStart
        ? `cold start: ${model.sessions} of ${MIN_HISTORY} sessions of history, so nothing is called unusual yet; risk comes from rule hits alone`
        : scored === 0
          ? 'no session scored yet'
          : `${scored} sessions scored against a model trained on ${model.sessions} sessions`;
    return {
      model,
      scoredSessions: scored,
      lastScoredAt: agg?.last ? iso(agg.last) : null,
      alertedSessions: alerted,
      threshold: this.threshold,
      message,
    };
  }

  /** Scored sessions, riskiest (or latest) first, with their reasons and agents. */
  listAnomalies(q: AnomalyQuery = {}): AnomalyList {
    const db = this.scores();
    if (!db) return { total: 0, sessions: [] };
    const w = where(q);
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit ?? 100)));
    const order = q.order === 'recent' ? 's.last_ts DESC' : 's.risk DESC, s.last_ts DESC';
    const total = (
      db.db.prepare(`SELECT count(*) AS n FROM session_scores s${w.sql}`).get(...w.params) as { n: number }
    ).n;
    const rows = db.db
      .prepare(
        `SELECT s.session_id, s.project, s.first_ts, s.last_ts, s.scored_ts, s.tool_calls, s.risk, s.rule_risk,
           s.anomaly_risk, s.anomaly_score, s.cold_start, s.reasons, s.agents, ${ALERTED}
         FROM session_scores s ${JOIN_ALERTED}${w.sql} ORDER BY ${order} LIMIT ?`,
      )
      .all(...w.params, limit) as (HeadRow & Pick<ScoreRow, 'agents'>)[];
    return {
      total,
      sessions: rows.map((r) => ({
        ...headOf(r),
        agents: (JSON.parse(r.agents) as AgentScore[])
          .map((a) => ({
            agent: a.agent,
            toolCalls: a.features.tool_calls ?? 0,
            risk: a.risk.risk,
            anomalyRisk: a.risk.anomalyRisk,
            reasons: a.risk.reasons,
          }))
          .sort((x, y) => y.risk - x.risk),
      })),
    };
  }

  /** One scored session: risk, reasons, and every feature (session and agents) against the baseline. */
  sessionVsBaseline(session: string): SessionAnalytics | undefined {
    const r = this.scores()
      ?.db.prepare(`SELECT s.*, ${ALERTED} FROM session_scores s ${JOIN_ALERTED} WHERE s.session_id = ?`)
      .get(session) as (ScoreRow & { alerted: number }) | undefined;
    if (!r) return undefined;
    const model = this.saved.get();
    const named = (risk: Risk) => new Set(risk.explanations.map((e) => e.feature));
    const explanations = JSON.parse(r.explanations) as Explanation[];
    return {
      ...headOf(r),
      features: compare(
        JSON.parse(r.features) as FeatureVector,
        model?.session.baseline,
        new Set(explanations.map((e) => e.feature)),
      ),
      agents: (JSON.parse(r.agents) as AgentScore[]).map((a) => ({
        agent: a.agent,
        toolCalls: a.features.tool_calls ?? 0,
        risk: a.risk,
        features: compare(a.features, model?.agent.baseline, named(a.risk)),
      })),
      hours: JSON.parse(r.hours) as SessionAnalytics['hours'],
      modelTrainedAt: model?.trainedAt ?? null,
    };
  }

  /** Sessions, mean and max risk, anomalies and alerts per time bucket, oldest first (empty buckets left out). */
  riskTrends(q: TrendQuery): TrendPoint[] {
    const db = this.scores();
    if (!db) return [];
    const range = q.until - q.since;
    const bucket = Math.max(
      60_000,
      Math.floor(q.bucketMs ?? (range <= 2 * 86_400_000 ? 3_600_000 : 86_400_000)),
    );
    const threshold = q.threshold ?? this.threshold;
    const project = q.project !== undefined ? ' AND project = ?' : '';
    const params = q.project !== undefined ? [q.since, q.until, q.project] : [q.since, q.until];
    const rows = db.db
      .prepare(
        `SELECT first_ts - first_ts % ? AS t, count(*) AS sessions, avg(risk) AS mean, max(risk) AS max,
           sum(anomaly_risk >= ?) AS anomalies, sum(risk >= ?) AS high
         FROM session_scores WHERE first_ts >= ? AND first_ts < ?${project} GROUP BY t ORDER BY t`,
      )
      .all(bucket, threshold, threshold, ...params) as {
      t: number;
      sessions: number;
      mean: number;
      max: number;
      anomalies: number | null;
      high: number;
    }[];
    const alerts = db.db
      .prepare(
        `SELECT a.ts - a.ts % ? AS t, count(*) AS n FROM alerted a
         ${q.project !== undefined ? 'JOIN session_scores s ON s.session_id = a.session_id AND s.project = ?' : ''}
         WHERE a.ts >= ? AND a.ts < ? GROUP BY t`,
      )
      .all(bucket, ...(q.project !== undefined ? [q.project] : []), q.since, q.until) as {
      t: number;
      n: number;
    }[];
    const byT = new Map<number, TrendPoint>();
    for (const r of rows)
      byT.set(r.t, {
        t: r.t,
        sessions: r.sessions,
        meanRisk: round1(r.mean),
        maxRisk: r.max,
        anomalies: r.anomalies ?? 0,
        highRisk: r.high,
        alerts: 0,
      });
    for (const a of alerts) {
      const p = byT.get(a.t) ?? {
        t: a.t,
        sessions: 0,
        meanRisk: 0,
        maxRisk: 0,
        anomalies: 0,
        highRisk: 0,
        alerts: 0,
      };
      p.alerts = a.n;
      byT.set(a.t, p);
    }
    return [...byT.values()].sort((x, y) => x.t - y.t);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
