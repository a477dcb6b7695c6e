import { existsSync } from 'node:fs';
import {
  AnomalyAlerter,
  DEFAULT_ALERT_THRESHOLD,
  loadModel,
  modelFile,
  retrainCached,
  type SessionReport,
  scoreSession,
  storedScoreOf,
} from '../analytics/analyze.ts';
import { explain, zScores } from '../analytics/baseline.ts';
import { FEATURES } from '../analytics/features.ts';
import { type AnalyticsModel, MIN_HISTORY } from '../analytics/model.ts';
import { ScoreDb } from '../analytics/scores.ts';
import { dataPaths } from '../config/paths.ts';
import { type AlertRecord, loadAlertConfig } from '../detect/alerts.ts';
import { Store } from '../store/index.ts';
import { type CommandSpec, type Options, parse, parseLimit, parseTime, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural, shortId, shortTime, table } from './format.ts';

const analyticsSpec = {
  name: 'analytics',
  summary: 'Behaviour per session: features, anomalies against your own history, a 0-100 risk with reasons.',
  usage:
    'analytics [--retrain] [--session ID] [--since T] [--limit N] [--threshold N] [--no-alerts] [--json]',
  options: {
    retrain: { type: 'boolean' },
    session: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    threshold: { type: 'string' },
    'no-alerts': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  help: [
    '--retrain             train the model again on every stored session (it is trained on first use)',
    '--session ID          one session in detail: risk, reasons, features against your usual, its agents',
    '--since T             sessions active since T (default 7d): 15m, 2h, 7d or an ISO time',
    '--limit N             score at most the N most recent sessions (default 50)',
    `--threshold N         anomaly risk (0-100) from which a session raises an alert (default ${DEFAULT_ALERT_THRESHOLD})`,
    '--no-alerts           score without raising alerts',
    '--json                machine-readable output',
  ],
  examples: [
    'claude-telemetry analytics',
    'claude-telemetry analytics --session 3dcbfabf',
    'claude-telemetry analytics --retrain --json',
  ],
} satisfies CommandSpec<Options>;

function openStore(): Store {
  const file = dataPaths().storeFile;
  if (!existsSync(file))
    throw new Error(
      `no store at ${file} yet: start the collector (claude-telemetry start) or run claude-telemetry demo`,
    );
  return Store.open(file, { readonly: true });
}

function threshold(value: string | undefined): number {
  if (value === undefined) return DEFAULT_ALERT_THRESHOLD;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100)
    throw new UsageError(`--threshold must be a number from 0 to 100, got "${value}"`);
  return n;
}

function modelSummary(model: AnalyticsModel, trained: boolean) {
  return {
    trained_now: trained,
    trained_at: model.trainedAt,
    sessions: model.session.n,
    agents: model.agent.n,
    cold_start: model.session.coldStart,
    min_history: MIN_HISTORY,
    file: modelFile(dataPaths().home),
  };
}

function modelLine(model: AnalyticsModel, trained: boolean): string {
  const what = `${trained ? 'trained now' : `trained ${shortTime(model.trainedAt)}`} on ${plural(model.session.n, 'session')}`;
  if (model.session.coldStart)
    return `model: ${what}; cold start: ${MIN_HISTORY} sessions of history are needed before anything is called unusual (risk comes from rule hits until then)`;
  return `model: ${what} (${plural(model.agent.n, 'agent')}); --retrain to include newer sessions`;
}

export const analytics: Command = {
  spec: analyticsSpec,
  async run(argv) {
    const { values } = parse(analyticsSpec, argv);
    const home = dataPaths().home;
    const limit = parseLimit(values.limit, 50);
    const since = parseTime(values.since ?? '7d', '--since');
    const alertAt = threshold(values.threshold);
    const store = openStore();
    // Scores are kept for the dashboard, as the collector's scorer keeps its own; one alert per session either way.
    const scores = ScoreDb.open(home);
    let reports: SessionReport[];
    let model: AnalyticsModel | undefined;
    let trained = false;
    let alerts: AlertRecord[] = [];
    try {
      if (!values.retrain) model = loadModel(home);
      if (!model) {
        // --retrain reads every event again (and refreshes the feature cache the collector's retraining uses).
        model = retrainCached(store, home, scores, { full: values.retrain === true }).model;
        trained = true;
      }
      if (values.session !== undefined) {
        const r = store.resolveSession(values.session);
        if (r.ambiguous)
          throw new UsageError(`--session ${values.session} matches several sessions; give more characters`);
        if (!r.id)
          throw new UsageError(`no session ${values.session} (see claude-telemetry sessions for the ids)`);
        reports = [scoreSession(model, r.id, store.timeline(r.id))];
      } else {
        reports = store
          .sessions({ since, limit })
          .map((s) => scoreSession(model as AnalyticsModel, s.session_id, store.timeline(s.session_id)))
          .filter((r) => (r.features.tool_calls ?? 0) > 0)
          .sort((a, b) => b.risk.risk - a.risk.risk);
      }
      const now = Date.now();
      scores.put(reports.map((r) => storedScoreOf(r, model as AnalyticsModel, now)));
      if (!values['no-alerts'])
        alerts = await new AnomalyAlerter(home, scores, loadAlertConfig(home), undefined, (m) =>
          process.stderr.write(`analytics: ${m}\n`),
        ).raise(reports, alertAt);
    } finally {
      scores.close();
      store.close();
    }
    if (values.json) {
      printJson({
        model: modelSummary(model, trained),
        sessions: values.session !== undefined ? reports : reports.map(({ hours: _h, ...rest }) => rest),
        alerts,
      });
      return 0;
    }
    println(modelLine(model, trained));
    if (values.session !== undefined) printSession(reports[0] as SessionReport, model);
    else printList(reports, values.since ?? '7d');
    if (alerts.length > 0)
      println(`\nraised ${plural(alerts.length, 'alert')} (claude-telemetry alerts to see them)`);
    return 0;
  },
};

function printList(reports: SessionReport[], since: string): void {
  if (reports.length === 0) {
    println(`no sessions with tool calls since ${since} (try --since 30d)`);
    return;
  }
  println('');
  println(
    table(
      ['session', 'project', 'start', 'calls', 'risk', 'rules', 'anomaly', 'why'],
      reports.map((r) => [
        shortId(r.session),
        r.project,
        shortTime(r.start).slice(0, 16),
        String(r.features.tool_calls ?? 0),
        String(Math.round(r.risk.risk)),
        String(Math.round(r.risk.ruleRisk)),
        r.risk.anomalyRisk === null ? '-' : String(Math.round(r.risk.anomalyRisk)),
        r.risk.coldStart
          ? r.risk.reasons.length > 1
            ? (r.risk.reasons[0] as string)
            : ''
          : r.risk.reasons.join('; '),
      ]),
      90,
    ),
  );
  println(`${plural(reports.length, 'session')}; details: claude-telemetry analytics --session ID`);
}

function printSession(r: SessionReport, model: AnalyticsModel): void {
  println('');
  println(`session ${r.session} (${r.project}), ${shortTime(r.start)} to ${shortTime(r.end)}`);
  const a = r.risk.anomalyRisk === null ? 'n/a' : String(Math.round(r.risk.anomalyRisk));
  println(`risk ${Math.round(r.risk.risk)}/100 (rules ${Math.round(r.risk.ruleRisk)}, anomaly ${a})`);
  for (const why of r.risk.reasons) println(`  - ${why}`);
  println('');
  const base = model.session.baseline;
  const z = base ? zScores(r.features, base) : undefined;
  println(
    table(
      ['feature', 'value', 'usual', 'z'],
      FEATURES.map((f) => [
        f.name,
        fmt(r.features[f.name] ?? 0),
        base ? fmt(base[f.name]?.median ?? 0) : '-',
        z ? (z[f.name] ?? 0).toFixed(1) : '-',
      ]),
    ),
  );
  if (r.agents.length > 1 || (r.agents[0] && r.agents[0].agent !== 'main')) {
    println('');
    const ab = model.agent.baseline;
    println(
      table(
        ['agent', 'calls', 'risk', 'why'],
        r.agents.map((g) => [
          g.agent,
          String(g.features.tool_calls ?? 0),
          String(Math.round(g.risk.risk)),
          ab
            ? explain(g.features, ab, 2)
                .map((e) => e.text)
                .join('; ')
            : '',
        ]),
        90,
      ),
    );
  }
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
