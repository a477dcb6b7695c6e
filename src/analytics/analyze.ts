/**
 * What the `analytics` command does, without the printing: keep the model under `<data dir>/analytics/`
 * (JSON), score sessions and their agents, and raise an alert through the security engine's channels for
 * each session whose anomaly risk crosses the threshold (once per session).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AlertChannels, type AlertConfig, AlertDispatcher, type AlertRecord } from '../detect/alerts.ts';
import type { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { agentFeatures, type FeatureVector, featuresOf, hourlyFeatures } from './features.ts';
import { knownBefore, readHistory } from './history.ts';
import { type AnalyticsModel, MODEL_VERSION, type Risk, riskOf, type TrainOptions, train } from './model.ts';

export const ANOMALY_RULE = 'CT-ANOMALY-001';
/** Anomaly risk at or above which a session raises an alert. */
export const DEFAULT_ALERT_THRESHOLD = 70;

export function analyticsDir(home: string): string {
  return join(home, 'analytics');
}
export function modelFile(home: string): string {
  return join(analyticsDir(home), 'model.json');
}
export function alertedFile(home: string): string {
  return join(analyticsDir(home), 'alerted.json');
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

export function saveModel(home: string, model: AnalyticsModel): void {
  writeJson(modelFile(home), model);
}

/** Trains on every session in the store and saves the model. */
export function retrain(store: Store, home: string, opts: TrainOptions = {}): AnalyticsModel {
  const h = readHistory(store);
  const model = train(
    h.sessions.map((s) => s.features),
    h.agents.map((a) => a.features),
    h.domains,
    opts,
  );
  saveModel(home, model);
  return model;
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

/** Scores one session's events against the model. */
export function scoreSession(
  model: AnalyticsModel,
  session: string,
  events: readonly TelemetryEvent[],
): SessionReport {
  const times = events.map((e) => Date.parse(e.timestamp) || 0);
  const first = times.length > 0 ? Math.min(...times) : 0;
  const last = times.length > 0 ? Math.max(...times) : 0;
  const ctx = { knownDomains: knownBefore(model.domains, first) };
  const features = featuresOf(events, ctx);
  const agents = [...agentFeatures(events, ctx)]
    .filter(([, f]) => (f.tool_calls ?? 0) > 0)
    .map(([agent, f]) => ({ agent, features: f, risk: riskOf(f, model.agent) }));
  return {
    session,
    project: events.find((e) => e.project_name)?.project_name ?? '',
    start: new Date(first).toISOString(),
    end: new Date(last).toISOString(),
    features,
    risk: riskOf(features, model.session),
    agents,
    hours: [...hourlyFeatures(events, ctx)].map(([hour, f]) => ({ hour, features: f })),
  };
}

function readAlerted(home: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(alertedFile(home), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * Alerts (rule CT-ANOMALY-001) for the reports whose anomaly risk is at least `threshold`, through the
 * alert log and the channels of `<data dir>/alerts.yaml`; a session alerts once. Returns the alerts raised.
 */
export async function raiseAnomalyAlerts(
  home: string,
  reports: readonly SessionReport[],
  threshold: number,
  config: AlertConfig,
  channels?: AlertChannels,
  log: (msg: string) => void = () => {},
): Promise<AlertRecord[]> {
  const alerted = readAlerted(home);
  const due = reports.filter(
    (r) => r.risk.anomalyRisk !== null && r.risk.anomalyRisk >= threshold && alerted[r.session] === undefined,
  );
  if (due.length === 0) return [];
  const dispatcher = new AlertDispatcher(home, config, channels, log);
  const raised: AlertRecord[] = [];
  for (const r of due) {
    const sent = dispatcher.submit(
      [
        {
          rule: ANOMALY_RULE,
          title: 'Unusual session behaviour',
          severity: r.risk.risk >= 90 ? 'high' : 'medium',
          action: 'alert',
          reason: `risk ${Math.round(r.risk.risk)}/100: ${r.risk.reasons.join('; ')}`,
          mitre: [],
        },
      ],
      { session: r.session, project: r.project, tool: '' },
    );
    if (sent.length > 0) alerted[r.session] = new Date().toISOString();
    raised.push(...sent);
  }
  await dispatcher.flush();
  writeJson(alertedFile(home), alerted);
  return raised;
}
