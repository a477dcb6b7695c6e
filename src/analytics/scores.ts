/**
 * Where scores are kept: `<data dir>/analytics/scores.db`, a SQLite file of its own (not the event store),
 * so that writing a score never takes the store's write lock from ingestion and no store migration is
 * involved. One row per scored session (the latest score), the sessions that already alerted, the features
 * of every session of the history as of the last retraining (with the session's event count then, so that a
 * retraining reads again only the sessions that changed), and a few key/value entries (the scorer's position
 * in the store, what the model was trained on).
 *
 * The collector's scorer (live.ts, on a worker thread), the `analytics` command and the dashboard's reader
 * (report.ts) open it concurrently; WAL mode and a busy timeout keep them out of each other's way.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Explanation } from './baseline.ts';
import type { FeatureVector } from './features.ts';
import type { SessionFeatures } from './history.ts';
import type { Risk } from './model.ts';

export function scoresFile(home: string): string {
  return join(home, 'analytics', 'scores.db');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS session_scores (
  session_id TEXT PRIMARY KEY,
  project TEXT NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  scored_ts INTEGER NOT NULL,
  tool_calls INTEGER NOT NULL,
  risk REAL NOT NULL,
  rule_risk REAL NOT NULL,
  anomaly_risk REAL,
  anomaly_score REAL,
  cold_start INTEGER NOT NULL,
  reasons TEXT NOT NULL,
  explanations TEXT NOT NULL,
  features TEXT NOT NULL,
  agents TEXT NOT NULL,
  hours TEXT NOT NULL,
  model_trained_at TEXT
);
CREATE INDEX IF NOT EXISTS session_scores_risk ON session_scores (risk);
CREATE INDEX IF NOT EXISTS session_scores_first ON session_scores (first_ts);
CREATE INDEX IF NOT EXISTS session_scores_last ON session_scores (last_ts);
CREATE TABLE IF NOT EXISTS alerted (
  session_id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  risk REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feature_cache (
  session_id TEXT PRIMARY KEY,
  events INTEGER NOT NULL,
  data TEXT NOT NULL
);
`;

/** One agent of a scored session. */
export interface AgentScore {
  agent: string;
  features: FeatureVector;
  risk: Risk;
}

/** What is stored per session: the scorer's SessionReport, flattened. */
export interface StoredScore {
  session: string;
  project: string;
  /** ms since epoch: first and last event. */
  first: number;
  last: number;
  /** When it was scored (ms). */
  scored: number;
  features: FeatureVector;
  risk: Risk;
  agents: AgentScore[];
  hours: { hour: string; features: FeatureVector }[];
  /** The model's training time (ISO), absent when scored without one. */
  modelTrainedAt?: string;
}

export interface ScoreRow {
  session_id: string;
  project: string;
  first_ts: number;
  last_ts: number;
  scored_ts: number;
  tool_calls: number;
  risk: number;
  rule_risk: number;
  anomaly_risk: number | null;
  anomaly_score: number | null;
  cold_start: number;
  reasons: string;
  explanations: string;
  features: string;
  agents: string;
  hours: string;
  model_trained_at: string | null;
}

export function rowToScore(r: ScoreRow): StoredScore {
  return {
    session: r.session_id,
    project: r.project,
    first: r.first_ts,
    last: r.last_ts,
    scored: r.scored_ts,
    features: JSON.parse(r.features) as FeatureVector,
    risk: {
      risk: r.risk,
      ruleRisk: r.rule_risk,
      anomalyRisk: r.anomaly_risk,
      anomalyScore: r.anomaly_score,
      coldStart: r.cold_start === 1,
      reasons: JSON.parse(r.reasons) as string[],
      explanations: JSON.parse(r.explanations) as Explanation[],
    },
    agents: JSON.parse(r.agents) as AgentScore[],
    hours: JSON.parse(r.hours) as StoredScore['hours'],
    ...(r.model_trained_at !== null ? { modelTrainedAt: r.model_trained_at } : {}),
  };
}

const UPSERT = `INSERT INTO session_scores
  (session_id, project, first_ts, last_ts, scored_ts, tool_calls, risk, rule_risk, anomaly_risk, anomaly_score,
   cold_start, reasons, explanations, features, agents, hours, model_trained_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (session_id) DO UPDATE SET project = excluded.project, first_ts = excluded.first_ts,
   last_ts = excluded.last_ts, scored_ts = excluded.scored_ts, tool_calls = excluded.tool_calls,
   risk = excluded.risk, rule_risk = excluded.rule_risk, anomaly_risk = excluded.anomaly_risk,
   anomaly_score = excluded.anomaly_score, cold_start = excluded.cold_start, reasons = excluded.reasons,
   explanations = excluded.explanations, features = excluded.features, agents = excluded.agents,
   hours = excluded.hours, model_trained_at = excluded.model_trained_at`;

export class ScoreDb {
  private readonly upsert: Database.Statement;
  private readonly claim: Database.Statement;
  private readonly metaGet: Database.Statement;
  private readonly metaSet: Database.Statement;
  private readonly putMany: (scores: readonly StoredScore[]) => void;

  private constructor(readonly db: Database.Database) {
    this.upsert = db.prepare(UPSERT);
    this.claim = db.prepare('INSERT OR IGNORE INTO alerted (session_id, ts, risk) VALUES (?, ?, ?)');
    this.metaGet = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.metaSet = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    this.putMany = db.transaction((scores: readonly StoredScore[]) => {
      for (const s of scores) this.putOne(s);
    });
  }

  /** Opens (creating it, mode 0600 in a 0700 directory) the scores file of a data dir. */
  static open(home: string): ScoreDb {
    const file = scoresFile(home);
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    const created = !existsSync(file);
    const db = new Database(file);
    try {
      if (created) chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      const out = new ScoreDb(db);
      if (created) out.importAlerted(join(home, 'analytics', 'alerted.json'));
      return out;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Sessions that alerted before the scores file existed (`alerted.json`) stay alerted. */
  private importAlerted(file: string): void {
    let old: Record<string, string>;
    try {
      old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      return;
    }
    for (const [session, at] of Object.entries(old)) this.claim.run(session, Date.parse(at) || 0, 0);
  }

  private putOne(s: StoredScore): void {
    const r = s.risk;
    this.upsert.run(
      s.session,
      s.project,
      s.first,
      s.last,
      s.scored,
      s.features.tool_calls ?? 0,
      r.risk,
      r.ruleRisk,
      r.anomalyRisk,
      r.anomalyScore,
      r.coldStart ? 1 : 0,
      JSON.stringify(r.reasons),
      JSON.stringify(r.explanations),
      JSON.stringify(s.features),
      JSON.stringify(s.agents),
      JSON.stringify(s.hours),
      s.modelTrainedAt ?? null,
    );
  }

  /** Stores (replacing) the scores of sessions, in one transaction. */
  put(scores: readonly StoredScore[]): void {
    if (scores.length > 0) this.putMany(scores);
  }

  get(session: string): StoredScore | undefined {
    const r = this.db.prepare('SELECT * FROM session_scores WHERE session_id = ?').get(session) as
      | ScoreRow
      | undefined;
    return r ? rowToScore(r) : undefined;
  }

  /**
   * Claims the one alert a session may raise: true the first time for a session (from any process), false
   * after.
   */
  claimAlert(session: string, risk: number, now = Date.now()): boolean {
    return this.claim.run(session, now, risk).changes === 1;
  }

  alertedSessions(): Set<string> {
    const rows = this.db.prepare('SELECT session_id FROM alerted').all() as { session_id: string }[];
    return new Set(rows.map((r) => r.session_id));
  }

  /** Event count of each session in the feature cache. */
  cachedCounts(): Map<string, number> {
    const rows = this.db.prepare('SELECT session_id, events FROM feature_cache').all() as {
      session_id: string;
      events: number;
    }[];
    return new Map(rows.map((r) => [r.session_id, r.events]));
  }

  /** Replaces the cached features of sessions, and drops those of `gone` sessions, in one transaction. */
  updateCache(
    rows: readonly { events: number; data: SessionFeatures }[],
    gone: readonly string[] = [],
  ): void {
    const put = this.db.prepare(
      'INSERT INTO feature_cache (session_id, events, data) VALUES (?, ?, ?) ' +
        'ON CONFLICT (session_id) DO UPDATE SET events = excluded.events, data = excluded.data',
    );
    const drop = this.db.prepare('DELETE FROM feature_cache WHERE session_id = ?');
    this.db.transaction(() => {
      for (const r of rows) put.run(r.data.session, r.events, JSON.stringify(r.data));
      for (const id of gone) drop.run(id);
    })();
  }

  cachedSessions(): SessionFeatures[] {
    const rows = this.db.prepare('SELECT data FROM feature_cache').all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as SessionFeatures);
  }

  clearCache(): void {
    this.db.exec('DELETE FROM feature_cache');
  }

  getMeta(key: string): string | undefined {
    return (this.metaGet.get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string | number): void {
    this.metaSet.run(key, String(value));
  }

  close(): void {
    this.db.close();
  }
}
