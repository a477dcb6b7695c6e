/**
 * `claude-telemetry query '<LogQL>'`: the same engine the HTTP API serves, run here on the local store
 * (read-only), or fanned out to the federation instances in config.yaml with --federated.
 */
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { Federation, type InstanceReport } from '../query/federation.ts';
import {
  type InstantQueryRequest,
  type QueryData,
  QueryEngine,
  type QueryResponse,
  type RangeQueryRequest,
  type StreamResult,
} from '../query/index.ts';
import { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { parseLimit, parseTime, UsageError } from './args.ts';
import { out, printJson, println } from './command.ts';
import { logLine, plural, shortTime, table } from './format.ts';

export interface LogQLOptions {
  since?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
  step?: string | undefined;
  direction?: string | undefined;
  instant?: boolean | undefined;
  raw?: boolean | undefined;
  json?: boolean | undefined;
  federated?: boolean | undefined;
}

const NS_PER_MS = 1_000_000n;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };

function stepMs(text: string): number {
  const m = DURATION.exec(text.trim());
  const ms = m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : Number(text) * 1000;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`--step: cannot read "${text}"; use a duration like 30s, 1m, 1h`);
  }
  return Math.round(ms);
}

/** Loki's default step: the range split into about 250 points, at least one second. */
function defaultStepMs(startMs: number, endMs: number): number {
  return Math.max(1000, Math.floor((endMs - startMs) / 250 / 1000) * 1000);
}

/** Runs one LogQL query and prints it; returns the exit code. */
export async function runLogQL(query: string, o: LogQLOptions): Promise<number> {
  const now = Date.now();
  const endMs = (o.to ?? o.until) ? parseTime((o.to ?? o.until) as string, '--to', now) : now;
  const startMs = o.from ? parseTime(o.from, '--from', now) : parseTime(o.since ?? '1h', '--since', endMs);
  if (startMs > endMs) throw new UsageError('--from/--since must be before --to');
  const direction = o.direction ?? 'backward';
  if (direction !== 'forward' && direction !== 'backward') {
    throw new UsageError(`--direction must be forward or backward, got "${direction}"`);
  }
  const limit = parseLimit(o.limit, 100);
  const range: RangeQueryRequest = {
    query,
    start: BigInt(startMs) * NS_PER_MS,
    end: BigInt(endMs) * NS_PER_MS,
    limit,
    direction,
    stepMs: o.step ? stepMs(o.step) : defaultStepMs(startMs, endMs),
    categorizeLabels: false,
  };
  const instant: InstantQueryRequest = { query, time: range.end, limit, direction, categorizeLabels: false };

  let data: QueryData;
  let instances: InstanceReport[] | undefined;
  if (o.federated) {
    const config = loadConfig(dataPaths());
    if (config.federation.instances.length === 0) {
      throw new UsageError(
        '--federated: no instances configured; list them under federation.instances in config.yaml',
      );
    }
    const fed = new Federation(config.federation);
    const r = o.instant ? await fed.query(instant) : await fed.queryRange(range);
    data = r.data;
    instances = r.instances;
  } else {
    const store = openReadOnly();
    try {
      const engine = new QueryEngine(store);
      const r: QueryResponse = o.instant ? engine.instantQuery(instant) : engine.rangeQuery(range);
      data = r.data;
    } finally {
      store.close();
    }
  }

  if (o.json) {
    printJson(instances ? { status: 'success', data, instances } : { status: 'success', data });
  } else {
    printData(data, o.raw === true);
    if (instances) printInstances(instances);
  }
  return instances?.some((i) => !i.ok) ? 1 : 0;
}

function openReadOnly(): Store {
  const paths = dataPaths();
  if (!existsSync(paths.storeFile)) {
    throw new Error(
      'no events stored yet: start the collector (claude-telemetry start) and connect a project',
    );
  }
  try {
    return Store.open(paths.storeFile, { readonly: true });
  } catch (err) {
    throw new Error(`cannot open the store at ${paths.storeFile}: ${(err as Error).message}`);
  }
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return `{${keys.map((k) => `${k}="${labels[k]}"`).join(', ')}}`;
}

function asEvent(line: string): TelemetryEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as TelemetryEvent;
    return typeof v.event_type === 'string' && typeof v.timestamp === 'string' && v.action_details
      ? v
      : undefined;
  } catch {
    return undefined;
  }
}

/** Log lines merged across streams in time order (as the query's direction sorted them). */
function linesOf(streams: StreamResult[]): { ns: string; line: string }[] {
  const all: { ns: string; line: string }[] = [];
  for (const s of streams) for (const v of s.values) all.push({ ns: v[0], line: v[1] });
  return all.sort((a, b) => (BigInt(a.ns) < BigInt(b.ns) ? -1 : BigInt(a.ns) > BigInt(b.ns) ? 1 : 0));
}

function printData(data: QueryData, raw: boolean): void {
  switch (data.resultType) {
    case 'streams': {
      const lines = linesOf(data.result);
      if (lines.length === 0) {
        println('no lines match (try a wider --since, or check `claude-telemetry status`)');
        return;
      }
      for (const { ns, line } of lines) {
        const ev = raw ? undefined : asEvent(line);
        if (ev) println(logLine(ev));
        else if (raw) println(line);
        else println(`${shortTime(Number(BigInt(ns) / NS_PER_MS))}  ${line}`);
      }
      if (!raw) println(plural(lines.length, 'line'));
      return;
    }
    case 'matrix': {
      if (data.result.length === 0) {
        println('no series');
        return;
      }
      for (const s of data.result) {
        println(labelText(s.metric));
        println(
          table(
            ['time', 'value'],
            s.values.map(([t, v]) => [shortTime(t * 1000), v]),
          ),
        );
        println();
      }
      println(plural(data.result.length, 'series', 'series'));
      return;
    }
    case 'vector': {
      if (data.result.length === 0) {
        println('no series');
        return;
      }
      println(
        table(
          ['series', 'value'],
          data.result.map((s) => [labelText(s.metric), s.value[1]]),
          100,
        ),
      );
      return;
    }
    case 'scalar':
      println(data.result[1]);
      return;
  }
}

function printInstances(instances: InstanceReport[]): void {
  for (const i of instances) {
    const what = i.ok ? `ok in ${Math.round(i.ms)} ms` : `FAILED: ${i.error ?? 'no answer'}`;
    out.error(`instance ${i.name}: ${what}\n`);
  }
}

/**
 * Each query over the last 24 h of the local store (opened once), summed up in a few words, for
 * `examples --run`. A store that cannot be opened gives its reason as every answer.
 */
export function runQuietly(queries: { query: string; metric: boolean }[]): string[] {
  let store: Store;
  try {
    store = openReadOnly();
  } catch (err) {
    return queries.map(() => (err as Error).message);
  }
  try {
    const engine = new QueryEngine(store);
    const end = BigInt(Date.now()) * NS_PER_MS;
    return queries.map(({ query, metric }) => {
      try {
        const common = { query, limit: 1000, direction: 'backward' as const, categorizeLabels: false };
        const d = (
          metric
            ? engine.instantQuery({ ...common, time: end })
            : engine.rangeQuery({ ...common, start: end - 86_400_000n * NS_PER_MS, end, stepMs: 60_000 })
        ).data;
        if (d.resultType === 'streams') return plural(linesOf(d.result).length, 'line');
        if (d.resultType === 'scalar') return `scalar ${d.result[1]}`;
        return plural(d.result.length, 'series', 'series');
      } catch (err) {
        return `error: ${(err as Error).message}`;
      }
    });
  } finally {
    store.close();
  }
}
