/** The Loki HTTP API, as the dashboard calls it (same origin: the collector's dashboard server). */

export type Labels = Record<string, string>;
export interface Stream {
  stream: Labels;
  values: [string, string][];
}
export interface MatrixSeries {
  metric: Labels;
  values: [number, string][];
}
export class ApiError extends Error {}

async function get<T>(path: string, params: Record<string, string | number>): Promise<T> {
  const qs = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`${path}?${qs}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new ApiError(`${res.status}: ${(await res.text()).trim()}`);
  return (await res.json()) as T;
}

interface LokiAnswer<T> {
  status: string;
  data: { resultType: string; result: T };
}

const ns = (ms: number) => `${Math.round(ms)}000000`;

/** The Loki API refuses a query longer than 30 days and 1 hour: LogQL reads the last 30 days of a longer window. */
const LOKI_MAX_RANGE_MS = 30 * 86_400_000;
const lokiStart = (startMs: number, endMs: number) => Math.max(startMs, endMs - LOKI_MAX_RANGE_MS);

/** A metric query over [start, end] with a step in seconds: one series per label set. */
export async function queryMatrix(query: string, startMs: number, endMs: number, stepS: number) {
  const r = await get<LokiAnswer<MatrixSeries[]>>('/loki/api/v1/query_range', {
    query,
    start: ns(lokiStart(startMs, endMs)),
    end: ns(endMs),
    step: `${stepS}s`,
  });
  return r.data.result;
}

export interface LogLine {
  /** ms since the epoch. */
  ts: number;
  tsNs: string;
  labels: Labels;
  line: string;
  event: Record<string, unknown> | undefined;
}

export function parseEvent(line: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function flattenStreams(streams: Stream[]): LogLine[] {
  const out: LogLine[] = [];
  for (const s of streams)
    for (const [t, line] of s.values)
      out.push({ ts: Number(t.slice(0, -6)) || 0, tsNs: t, labels: s.stream, line, event: parseEvent(line) });
  return out;
}

/** Log lines of a query, sorted by time in `direction`. */
export async function queryLogs(
  query: string,
  startMs: number,
  endMs: number,
  limit: number,
  direction: 'forward' | 'backward' = 'backward',
): Promise<LogLine[]> {
  const r = await get<LokiAnswer<Stream[]>>('/loki/api/v1/query_range', {
    query,
    start: ns(lokiStart(startMs, endMs)),
    end: ns(endMs + 1),
    limit,
    direction,
  });
  const lines = flattenStreams(r.data.result);
  lines.sort((a, b) => (direction === 'forward' ? a.ts - b.ts : b.ts - a.ts));
  return lines;
}

/** The filters' choices: projects, agent types and event types that occur in the window. */
export const choices = (startMs: number, endMs: number) =>
  get<{ project: string[]; agent_type: string[]; event_type: string[] }>(
    '/api/dashboard/choices',
    windowParams(startMs, endMs, {}),
  );

export interface SessionSummary {
  session_id: string;
  project_path: string | null;
  project_name: string | null;
  first_ts: number;
  last_ts: number;
  events: number;
  tool_calls: number;
  errors: number;
  outside_scope: number;
  agents: number;
}

export async function sessions(startMs: number, endMs: number, project: string): Promise<SessionSummary[]> {
  const r = await get<{ sessions: SessionSummary[] }>(
    '/api/dashboard/sessions',
    windowParams(startMs, endMs, { project }),
  );
  return r.sessions;
}

export interface SystemReport {
  now: string;
  collector: {
    running: boolean;
    pid: number | null;
    version: string | null;
    startedAt: string | null;
    uptimeSeconds: number | null;
    stored: number;
    duplicates: number;
    batches: number;
    api: string | null;
  };
  spool: { backlog: number; quarantined: number };
  store: {
    events: number;
    sessions: number;
    firstEventTs: number | null;
    lastEventTs: number | null;
    bytes: number;
  };
  audit: { entries: number; files: number; bytes: number; checkpoints: { count: number; last?: string } };
  sinks: {
    name: string;
    type: string;
    state: string;
    lagEntries: number;
    sent: number;
    lastError?: string;
  }[];
}

export const system = () => get<SystemReport>('/api/dashboard/system', {});

/** The WebSocket tail: frames of streams, until closed. */
export function tail(
  query: string,
  startMs: number,
  limit: number,
  onLines: (lines: LogLine[]) => void,
  onState: (state: 'open' | 'closed' | 'error', detail?: string) => void,
): () => void {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const qs = new URLSearchParams({ query, start: ns(startMs), limit: String(limit) });
  const ws = new WebSocket(`${proto}//${location.host}/loki/api/v1/tail?${qs}`);
  let closedByUs = false;
  ws.onopen = () => onState('open');
  ws.onmessage = (m) => {
    try {
      const frame = JSON.parse(String(m.data)) as { streams?: Stream[] };
      const lines = flattenStreams(frame.streams ?? []);
      lines.sort((a, b) => a.ts - b.ts);
      if (lines.length > 0) onLines(lines);
    } catch {
      onState('error', 'a tail frame was not JSON');
    }
  };
  ws.onerror = () => onState('error', 'the tail connection failed');
  ws.onclose = (e) => {
    if (!closedByUs) onState('closed', e.reason || `closed (${e.code})`);
  };
  return () => {
    closedByUs = true;
    ws.close();
  };
}

/** The window and filters of a dashboard endpoint's query string. */
function windowParams(
  startMs: number,
  endMs: number,
  f: { project?: string; session?: string; agent?: string },
) {
  return {
    start: Math.floor(startMs),
    end: Math.ceil(endMs),
    ...(f.project ? { project: f.project } : {}),
    ...(f.session ? { session: f.session } : {}),
    ...(f.agent ? { agent: f.agent } : {}),
  };
}

type WindowFilters = { project?: string; session?: string; agent?: string };

export interface OverviewReport {
  source: 'index' | 'store';
  total: number;
  outside: number;
  activeSessions: number;
  byType: { label: string; value: number }[];
  byTool: { label: string; value: number }[];
  byProject: { label: string; value: number }[];
  stepMs: number;
  activity: MatrixSeries[];
  durations: { tool: string; calls: number; p50_ms: number; p95_ms: number }[];
  topFiles: { value: string; count: number }[];
  topCommands: { value: string; count: number }[];
}

/** Everything the Overview shows, in one request (counts per step every `stepMs`). */
export const overview = (startMs: number, endMs: number, f: WindowFilters, stepMs: number) =>
  get<OverviewReport>('/api/dashboard/overview', { ...windowParams(startMs, endMs, f), step: stepMs });

export interface UsageSum {
  messages: number;
  input: number;
  output: number;
  cacheCreation: number;
  cacheCreation1h: number;
  cacheRead: number;
  cost: number | null;
  unpriced: string[];
}

export interface TreeNode {
  agent_id: string;
  agent_type: string | null;
  delegation?: {
    tool_use_id: string;
    delegated_from: string;
    description?: string;
    background: boolean;
    model?: string;
  };
  first_ts: number | null;
  last_ts: number | null;
  duration_ms: number;
  events: number;
  tools: Record<string, number>;
  tool_calls: number;
  errors: number;
  outcome: string;
  usage: UsageSum;
  children: TreeNode[];
}

export interface SessionTree {
  session_id: string;
  project_name: string | null;
  source?: string;
  root: TreeNode;
  total: UsageSum;
  agents: number;
}

export const sessionTree = (id: string) => get<SessionTree>('/api/dashboard/session-tree', { session: id });

export interface AgentSummary {
  session_id: string;
  agent_id: string;
  agent_type: string | null;
  project_name: string | null;
  events: number;
  tool_calls: number;
  errors: number;
  first_ts: number | null;
  last_ts: number | null;
  duration_ms: number;
  usage: UsageSum;
  /** Machine the events came from (metadata.host). */
  host: string | null;
  /** The collector that answered: 'local', or a federation instance of config.yaml. */
  instance: string;
}

/** One collector asked for the fleet: whether it answered, and why not. */
export interface InstanceReport {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  note?: string;
}

export interface ConflictSide {
  session_id: string;
  agent_id: string;
  tool: string;
  ts: number;
  access: 'read' | 'write';
}

export interface CostReport {
  by: string;
  rows: (UsageSum & { key: string })[];
  total: UsageSum;
}

export interface FleetReport {
  agents: AgentSummary[];
  agentsInRange: number;
  conflicts: {
    file_path: string;
    kind: string;
    first: ConflictSide;
    second: ConflictSide;
    gap_ms: number;
    instance: string;
  }[];
  conflictsInRange: number;
  /** This collector and its federation instances; `partial` when one of them failed. */
  instances: InstanceReport[];
  partial: boolean;
  costByModel: CostReport;
  costByDay: CostReport;
}

export const fleet = (startMs: number, endMs: number, f: WindowFilters) =>
  get<FleetReport>('/api/dashboard/fleet', windowParams(startMs, endMs, f));

export interface ModelSummary {
  trainedAt: string;
  sessions: number;
  agents: number;
  coldStart: boolean;
  minHistory: number;
}

export interface RuleHit {
  ts: number;
  session: string;
  project: string;
  agent: string;
  hook: string;
  tool: string;
  rule: string;
  severity: string;
  action: string;
  reason: string;
  mitre: string[];
}

export interface SessionRisk {
  session: string;
  project: string;
  critical: number;
  high: number;
  medium: number;
  low: number;
  info: number;
  hits: number;
  ruleRisk: number;
  risk: number | null;
  anomalyRisk: number | null;
}

export interface SecurityReport {
  total: number;
  bySeverity: Record<string, number>;
  analytics: { model: ModelSummary | null; scoredSessions: number; message: string };
  sessions: SessionRisk[];
  hits: RuleHit[];
}

export const security = (startMs: number, endMs: number, f: WindowFilters) =>
  get<SecurityReport>('/api/dashboard/security', windowParams(startMs, endMs, f));

export interface AnalyticsStatus {
  model: ModelSummary | null;
  scoredSessions: number;
  lastScoredAt: string | null;
  alertedSessions: number;
  threshold: number;
  message: string;
}

export interface AnomalyItem {
  session: string;
  project: string;
  start: string;
  end: string;
  scoredAt: string;
  toolCalls: number;
  risk: number;
  ruleRisk: number;
  anomalyRisk: number | null;
  anomalyScore: number | null;
  coldStart: boolean;
  reasons: string[];
  alerted: boolean;
}

export interface TrendPoint {
  t: number;
  sessions: number;
  meanRisk: number;
  maxRisk: number;
  anomalies: number;
  highRisk: number;
  alerts: number;
}

export interface AnalyticsReport {
  status: AnalyticsStatus;
  anomalies: { total: number; sessions: AnomalyItem[] };
  trends: TrendPoint[];
}

export const analytics = (startMs: number, endMs: number, f: WindowFilters) =>
  get<AnalyticsReport>('/api/dashboard/analytics', windowParams(startMs, endMs, f));

export interface FeatureComparison {
  name: string;
  label: string;
  kind: string;
  value: number;
  usual: number | null;
  scale: number | null;
  z: number | null;
  unusual: boolean;
  inModel: boolean;
}

export interface SessionAnalytics extends AnomalyItem {
  features: FeatureComparison[];
  modelTrainedAt: string | null;
}

export const sessionAnalytics = (id: string) =>
  get<SessionAnalytics>('/api/dashboard/analytics/session', { session: id });
