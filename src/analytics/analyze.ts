/**
 * What the `analytics` command does, without the printing: keep the model under `<data dir>/analytics/`
 * (JSON), score sessions and their agents, and raise an alert through the security engine's channels for
 * each session whose anomaly risk crosses the threshold (once per session).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AlertChannels, type AlertConfig, AlertDispatcher, type AlertRecord } from '../detect/alerts.ts';
import type { Detection } from '../detect/engine.ts';
import type { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { type FeatureVector, SessionAccumulator, sortByTime } from './features.ts';
import {
  type History,
  historyOfSessions,
  knownBefore,
  readHistory,
  readSession,
  readSessions,
  type SessionFeatures,
} from './history.ts';
import { type AnalyticsModel, MODEL_VERSION, type Risk, riskOf, type TrainOptions, train } from './model.ts';
import { ScoreDb, type StoredScore } from './scores.ts';

export const ANOMALY_RULE = 'CT-ANOMALY-001';
/** Anomaly risk at or above which a session raises an alert. */
export const DEFAULT_ALERT_THRESHOLD = 70;

export function analyticsDir(home: string): string {
  return join(home, 'analytics');
}
export function modelFile(home: string): string {
  return join(analyticsDir(home), 'model.json');
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The saved model, or undefined when there is none (or it was written by another model version). */
export function loadModel(home: string): AnalyticsModel | undefined {
  const file = modelFile(home);
  if (!existsSync(file)) return undefined;
  const m = JSON.parse(readFileSync(file, 'utf8')) as AnalyticsModel;
  return m.version === MODEL_VERSION ? m : undefined;
}

/** The saved model of a data dir, read again only when its file changed (another process retrained). */
export class SavedModel {
  private model: AnalyticsModel | undefined;
  private mtime = -1;

  constructor(readonly home: string) {}

  get(): AnalyticsModel | undefined {
    let mtime: number;
    try {
      mtime = statSync(modelFile(this.home)).mtimeMs;
    } catch {
      this.model = undefined;
      this.mtime = -1;
      return undefined;
    }
    if (mtime !== this.mtime) {
      this.model = loadModel(this.home);
      this.mtime = mtime;
    }
    return this.model;
  }

  /** The model this process just saved. */
  set(model: AnalyticsModel): void {
    this.model = model;
    this.mtime = statSync(modelFile(this.home)).mtimeMs;
  }
}

export function saveModel(home: string, model: AnalyticsModel): void {
  writeJson(modelFile(home), model);
}

/** Trains on a history and saves the model. */
function trainAndSave(h: History, home: string, opts: TrainOptions): AnalyticsModel {
  const model = train(
    h.sessions.map((s) => s.features),
    h.agents.map((a) => a.features),
    h.domains,
    opts,
  );
  saveModel(home, model);
  return model;
}

/** Trains on every session in the store and saves the model. */
export function retrain(store: Store, home: string, opts: TrainOptions = {}): AnalyticsModel {
  return trainAndSave(readHistory(store), home, opts);
}

/**
 * Trains on every stored session and saves the model, reading again only the sessions whose event count
 * changed since the last retraining: the others' features come from the feature cache of scores.db. With an
 * empty cache (or `full`) every event is read once, in time order, and the cache filled.
 */
export function retrainCached(
  store: Store,
  home: string,
  db: ScoreDb,
  opts: TrainOptions & { full?: boolean } = {},
): { model: AnalyticsModel; read: number; reused: number } {
  const counts = new Map(
    (
      store.select('SELECT session_id, events FROM sessions').all() as {
        session_id: string;
        events: number;
      }[]
    ).map((r) => [r.session_id, r.events]),
  );
  if (opts.full) db.clearCache();
  const cached = db.cachedCounts();
  let list: SessionFeatures[];
  let read: number;
  if (cached.size === 0) {
    list = readSessions(store);
    read = list.length;
    db.updateCache(list.map((data) => ({ events: counts.get(data.session) ?? 0, data })));
  } else {
    const stale = [...counts].filter(([id, n]) => cached.get(id) !== n);
    read = stale.length;
    const gone = [...cached.keys()].filter((id) => !counts.has(id));
    db.updateCache(
      stale.map(([id, events]) => ({ events, data: readSession(store, id) })),
      gone,
    );
    list = db.cachedSessions();
  }
  const model = trainAndSave(historyOfSessions(list), home, opts);
  return { model, read, reused: list.length - read };
}

export interface GroupReport {
  features: FeatureVector;
  risk: Risk;
}

export interface SessionReport extends GroupReport {
  session: string;
  project: string;
  /** ISO times of the first and last event. */
  start: string;
  end: string;
  agents: (GroupReport & { agent: string })[];
  /** Features per clock hour of the session (key: the hour's start). */
  hours: { hour: string; features: FeatureVector }[];
}

/** Scores one session's events (any order) against the model. */
export function scoreSession(
  model: AnalyticsModel,
  session: string,
  events: readonly TelemetryEvent[],
): SessionReport {
  const acc = new SessionAccumulator();
  for (const e of sortByTime(events)) acc.add(e);
  return reportOf(model, session, acc);
}

/** Scores the accumulated state of a session (see SessionAccumulator) against the model. */
export function reportOf(model: AnalyticsModel, session: string, acc: SessionAccumulator): SessionReport {
  const empty = acc.session.events === 0;
  const first = empty ? 0 : acc.session.first;
  const last = empty ? 0 : acc.session.last;
  const ctx = { knownDomains: knownBefore(model.domains, first) };
  const features = acc.session.vector(ctx);
  const agents: SessionReport['agents'] = [];
  for (const [agent, a] of acc.agents) {
    const f = a.vector(ctx);
    if ((f.tool_calls ?? 0) > 0) agents.push({ agent, features: f, risk: riskOf(f, model.agent) });
  }
  return {
    session,
    project: acc.project,
    start: new Date(first).toISOString(),
    end: new Date(last).toISOString(),
    features,
    risk: riskOf(features, model.session),
    agents,
    hours: [...acc.hours].map(([hour, a]) => ({ hour, features: a.vector(ctx) })),
  };
}

/** A session report as stored in the scores file. */
export function storedScoreOf(r: SessionReport, model: AnalyticsModel, now = Date.now()): StoredScore {
  return {
    session: r.session,
    project: r.project,
    first: Date.parse(r.start),
    last: Date.parse(r.end),
    scored: now,
    features: r.features,
    risk: r.risk,
    agents: r.agents,
    hours: r.hours,
    modelTrainedAt: model.trainedAt,
  };
}

/** The alert a session raises when its anomaly risk crosses the threshold. */
function anomalyDetection(r: Pick<SessionReport, 'risk'>): Detection {
  return {
    rule: ANOMALY_RULE,
    title: 'Unusual session behaviour',
    severity: r.risk.risk >= 90 ? 'high' : 'medium',
    action: 'alert',
    reason: `risk ${Math.round(r.risk.risk)}/100: ${r.risk.reasons.join('; ')}`,
    mitre: [],
  };
}

/**
 * Raises the anomaly alerts (rule CT-ANOMALY-001) through the alert log and the channels of
 * `<data dir>/alerts.yaml`. A session alerts once, whoever scores it (the collector's scorer or the
 * `analytics` command): the claim is a row in the scores file. Cold-start scores never alert.
 */
export class AnomalyAlerter {
  private readonly dispatcher: AlertDispatcher;

  constructor(
    home: string,
    private readonly db: ScoreDb,
    config: AlertConfig,
    channels?: AlertChannels,
    log: (msg: string) => void = () => {},
  ) {
    this.dispatcher = new AlertDispatcher(home, config, channels, log);
  }

  /** Alerts for the reports whose anomaly risk is at least `threshold`; returns the alerts raised. */
  async raise(
    reports: readonly Pick<SessionReport, 'session' | 'project' | 'risk'>[],
    threshold: number,
  ): Promise<AlertRecord[]> {
    const raised: AlertRecord[] = [];
    for (const r of reports) {
      const a = r.risk.anomalyRisk;
      if (a === null || a < threshold || !this.db.claimAlert(r.session, r.risk.risk)) continue;
      raised.push(
        ...this.dispatcher.submit([anomalyDetection(r)], {
          session: r.session,
          project: r.project,
          tool: '',
        }),
      );
    }
    await this.dispatcher.flush();
    return raised;
  }
}

/**
 * Alerts (rule CT-ANOMALY-001) for the reports whose anomaly risk is at least `threshold` (see
 * AnomalyAlerter), opening the scores file of `home` for the once-per-session claim.
 */
export async function raiseAnomalyAlerts(
  home: string,
  reports: readonly SessionReport[],
  threshold: number,
  config: AlertConfig,
  channels?: AlertChannels,
  log: (msg: string) => void = () => {},
): Promise<AlertRecord[]> {
  const db = ScoreDb.open(home);
  try {
    return await new AnomalyAlerter(home, db, config, channels, log).raise(reports, threshold);
  } finally {
    db.close();
  }
}
