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
export interface VectorSample {
  metric: Labels;
  value: [number, string];
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

/** A metric query over [start, end] with a step in seconds: one series per label set. */
export async function queryMatrix(query: string, startMs: number, endMs: number, stepS: number) {
  const r = await get<LokiAnswer<MatrixSeries[]>>('/loki/api/v1/query_range', {
    query,
    start: ns(startMs),
    end: ns(endMs),
    step: `${stepS}s`,
  });
  return r.data.result;
}

/** An instant metric query at `timeMs`. */
export async function queryVector(query: string, timeMs: number) {
  const r = await get<LokiAnswer<VectorSample[] | [number, string]>>('/loki/api/v1/query', {
    query,
    time: ns(timeMs),
  });
  return r.data.resultType === 'scalar' ? [] : (r.data.result as VectorSample[]);
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
    start: ns(startMs),
    end: ns(endMs + 1),
    limit,
    direction,
  });
  const lines = flattenStreams(r.data.result);
  lines.sort((a, b) => (direction === 'forward' ? a.ts - b.ts : b.ts - a.ts));
  return lines;
}

export async function labelValues(name: string, startMs: number, endMs: number): Promise<string[]> {
  const r = await get<{ data?: string[] }>(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, {
    start: ns(startMs),
    end: ns(endMs),
  });
  return r.data ?? [];
}

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
  const r = await get<{ sessions: SessionSummary[] }>('/api/dashboard/sessions', {
    start: Math.floor(startMs),
    end: Math.ceil(endMs),
    ...(project ? { project } : {}),
  });
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
