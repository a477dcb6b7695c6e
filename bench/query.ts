import { rmSync } from 'node:fs';
import { QueryEngine, type RangeQueryRequest } from '../src/query/index.ts';
import { Store } from '../src/store/index.ts';
import { buildScaleStore } from './scale.ts';
import { round, stats, tempHome } from './util.ts';

const ns = (ms: number) => BigInt(ms) * 1_000_000n;

/** Times `fn` `runs` times after `warmup` untimed runs; ms per run. */
function time(fn: () => unknown, runs: number, warmup = 3) {
  for (let i = 0; i < warmup; i++) fn();
  const lat: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    lat.push(performance.now() - t);
  }
  return stats(lat);
}

/**
 * LogQL over a store of `total` events (the scale benchmark's store: real event shapes, sessions of 1,000,
 * 10 ms apart), read through a read-only connection as the API server of another process would:
 *  (a) sum by (tool) (count_over_time(...[1m])) as query_range over 24 h, step 1m;
 *  (b) log queries with a line filter, limit 100 (a common and a rare substring);
 *  (c) a session selector with the seed's shortened id (the whole 1,000-line session, and Loki's default 100);
 *  (d) parse + plan throughput over a mix of queries;
 * and the label browser's calls over the same day.
 */
export async function runQueryBench(total = Number(process.env.BENCH_QUERY_TOTAL ?? 1_000_000), runs = 30) {
  const paths = tempHome('query');
  const built = buildScaleStore(paths, total, 1_000);
  built.store.close();
  const store = Store.open(paths.storeFile, { readonly: true });
  const engine = new QueryEngine(store);
  const now = Date.now();
  const minute = Math.floor(now / 60_000) * 60_000;
  const range =
    (query: string, extra: Partial<RangeQueryRequest> = {}) =>
    () =>
      engine.rangeQuery({
        query,
        start: ns(minute - 86_400_000),
        end: ns(minute + 60_000),
        limit: 100,
        direction: 'backward',
        stepMs: 60_000,
        categorizeLabels: false,
        ...extra,
      });
  const session = built.sessions[Math.floor(built.sessions.length / 2)] as string;
  const countByTool = 'sum by (tool) (count_over_time({service="claude-telemetry"}[1m]))';
  const points = range(countByTool)();
  const series = points.data.result.length;
  const out = {
    storedEvents: total,
    buildEventsPerSec: Math.round(total / built.buildSec),
    countByTool24hStep1mMs: time(range(countByTool), runs),
    countByToolSeries: series,
    countByToolRawRowsMs: time(
      range('sum by (tool) (count_over_time({service="claude-telemetry"} |= "" [1m]))'),
      3,
      1,
    ),
    logsLineFilterCommonLimit100Ms: time(range('{service="claude-telemetry"} |= "Bash"'), runs),
    logsLineFilterRareLimit100Ms: time(range('{service="claude-telemetry"} |= "wc -c hello.txt"'), runs),
    logsRegexFilterLimit100Ms: time(range('{service="claude-telemetry"} |~ "wc -[a-z] hello"'), runs),
    sessionSelectorAll1000Ms: time(
      range(`{service="claude-telemetry", session="${session.slice(0, 8)}"}`, { limit: 1000 }),
      runs,
    ),
    sessionSelectorLimit100Ms: time(
      range(`{service="claude-telemetry", session="${session.slice(0, 8)}"}`),
      runs,
    ),
    labelBrowser: {} as Record<string, unknown>,
    parsePlanPerSec: 0,
  };
  const day = { start: ns(minute - 86_400_000), end: ns(minute + 60_000) };
  out.labelBrowser = {
    labelsMs: time(() => engine.labels(day), 10),
    labelValuesToolMs: time(() => engine.labelValues('tool', day), 10),
    labelValuesSessionMs: time(() => engine.labelValues('session_id', day), 10),
    seriesMs: time(() => engine.series({ ...day, match: ['{service="claude-telemetry"}'] }), 10),
    indexStatsMs: time(() => engine.indexStats({ ...day, query: '{service="claude-telemetry"}' }), 10),
  };
  const mix = [
    countByTool,
    '{service="claude-telemetry"} |= "Bash"',
    `{service="claude-telemetry", session="${session.slice(0, 8)}"}`,
    'sum by (level, detected_level) (count_over_time({service="claude-telemetry"} | drop __error__ [1m]))',
    '{service="claude-telemetry"} | json | outside_project_scope="true" | line_format "{{.tool}} {{.project}}"',
    'topk(5, sum by (tool) (rate({service="claude-telemetry", event="command_execution"} |~ "git (push|commit)" [5m])))',
    'avg_over_time({service="claude-telemetry"} | json | unwrap duration_ms | __error__="" [5m]) by (tool) > 100',
    'vector(1)+vector(1)',
  ];
  const n = 20_000;
  for (let i = 0; i < 2000; i++) engine.compile(mix[i % mix.length] as string);
  const t = performance.now();
  for (let i = 0; i < n; i++) engine.compile(mix[i % mix.length] as string);
  out.parsePlanPerSec = Math.round((n / (performance.now() - t)) * 1000);
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
  return { ...out, buildSec: round(built.buildSec, 1) };
}
