/**
 * Loki-shaped answers built from real events, and a loopback server that serves them like an instance of the
 * Loki API (query_range, query, labels, label values, series, ready). The documents are computed once from the
 * events; the server picks them by path and by the query text it is asked.
 */
import { canonicalJson } from '../src/audit/index.ts';
import type { Labels, MatrixResult, QueryData, StreamResult } from '../src/query/api.ts';
import { eventTimeNs, streamLabels } from '../src/sinks/event-labels.ts';
import type { TelemetryEvent } from '../src/types.ts';
import { type Receiver, type Reply, startReceiver } from './http-receiver.ts';

const stats = {
  summary: { execTime: 0.001, totalEntriesReturned: 0, totalLinesProcessed: 0, totalBytesProcessed: 0 },
};

/** A log query's answer: streams by label set, newest first (backward) or oldest first, cut at `limit`. */
export function streamsDocument(
  events: TelemetryEvent[],
  direction: 'forward' | 'backward',
  limit: number,
): QueryData {
  const sorted = [...events].sort((a, b) => Number(eventTimeNs(a) - eventTimeNs(b)));
  if (direction === 'backward') sorted.reverse();
  const streams = new Map<string, StreamResult>();
  for (const e of sorted.slice(0, limit)) {
    const labels = streamLabels(e);
    const key = JSON.stringify(labels);
    if (!streams.has(key)) streams.set(key, { stream: labels, values: [] });
    streams.get(key)!.values.push([eventTimeNs(e).toString(), canonicalJson(e)]);
  }
  return { resultType: 'streams', result: [...streams.values()], stats };
}

/** `sum by (<label>) (count_over_time(...[step]))` over [startSec, endSec) answered as a matrix. */
export function countByDocument(
  events: TelemetryEvent[],
  label: keyof TelemetryEvent,
  startSec: number,
  stepSec: number,
): QueryData {
  const series = new Map<string, Map<number, number>>();
  for (const e of events) {
    const value = String(e[label]);
    const t =
      startSec + Math.floor((Date.parse(e.timestamp) / 1000 - startSec) / stepSec) * stepSec + stepSec;
    const points = series.get(value) ?? new Map<number, number>();
    points.set(t, (points.get(t) ?? 0) + 1);
    series.set(value, points);
  }
  const result: MatrixResult[] = [...series].map(([value, points]) => ({
    metric: { [label]: value } as Labels,
    values: [...points].sort((a, b) => a[0] - b[0]).map(([t, n]) => [t, String(n)]),
  }));
  return { resultType: 'matrix', result, stats };
}

export interface LokiInstance extends Receiver {
  /** Query text -> answer of query_range / query. */
  documents: Map<string, QueryData>;
}

/** Serves `documents` for query_range and query, the label names/values and series of `events`. */
export async function startLokiInstance(
  events: TelemetryEvent[],
  documents: Map<string, QueryData>,
  opts: { delayMs?: number; port?: number } = {},
): Promise<LokiInstance> {
  const allLabels = events.map(streamLabels);
  const ok = (data: unknown): Reply => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'success', data }),
    ...(opts.delayMs ? { delayMs: opts.delayMs } : {}),
  });
  const r = await startReceiver((req) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/ready') return { status: 200, body: 'ready' };
    if (url.pathname === '/loki/api/v1/query_range' || url.pathname === '/loki/api/v1/query') {
      const doc = documents.get(url.searchParams.get('query') ?? '');
      return doc ? ok(doc) : { status: 400, body: 'parse error : unexpected query' };
    }
    if (url.pathname === '/loki/api/v1/labels')
      return ok([...new Set(allLabels.flatMap(Object.keys))].sort());
    const values = /^\/loki\/api\/v1\/label\/([^/]+)\/values$/.exec(url.pathname);
    if (values)
      return ok([...new Set(allLabels.map((l) => l[decodeURIComponent(values[1]!)]).filter(Boolean))].sort());
    if (url.pathname === '/loki/api/v1/series') {
      return ok([...new Map(allLabels.map((l) => [JSON.stringify(l), l])).values()]);
    }
    return { status: 404, body: '404 page not found' };
  }, opts.port);
  return Object.assign(r, { documents });
}
