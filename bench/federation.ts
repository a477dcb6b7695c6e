/**
 * Federated query over 3 instances vs the slowest single instance (target: <= 1.3x).
 *
 * Each instance is its own process holding real events (recorded hook payloads, normalized) and answering
 * Loki's query_range for a log query with a line filter the brute-force way: scan every line, keep the newest
 * `limit` matches, group them into streams, serialize. The client is the Federation module: first each
 * instance alone, then all three at once (merge by time, cut at limit, instance label).
 *
 * Run: `npm run bench -- federation` or `node --import tsx bench/federation.ts` (prints JSON).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { canonicalJson } from '../src/audit/index.ts';
import { normalize } from '../src/ingest/index.ts';
import { Federation } from '../src/query/federation.ts';
import { eventTimeNs, streamLabels } from '../src/sinks/event-labels.ts';
import { fixturePayloads, round, stats } from './util.ts';

const QUERY = '{service="claude-telemetry"} |= "Bash"';
const LIMIT = 100;
const WARMUP = 5;
const RUNS = 40;

/** One instance: `events` events from `host`, served on a free loopback port (printed on stdout). */
function serveInstance(host: string, events: number, latencyMs: number): void {
  const templates = fixturePayloads();
  const start = Date.UTC(2026, 0, 5);
  const rows = Array.from({ length: events }, (_, i) => {
    const mtimeMs = start + i * 1000;
    const e = normalize(
      {
        name: `${mtimeMs}.${i}.${host}.project`,
        path: '',
        mtimeMs,
        scope: 'project',
        projectDir: '/home/dev/project',
        body: Buffer.from(JSON.stringify(templates[i % templates.length])),
      },
      { user: 'dev', host, telemetryVersion: '0.1.0', capture: 'metadata' },
    );
    return { ns: eventTimeNs(e).toString(), line: canonicalJson(e), labels: streamLabels(e) };
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/loki/api/v1/query_range') {
      res.writeHead(url.pathname === '/ready' ? 200 : 404).end();
      return;
    }
    const needle = /\|= "([^"]*)"/.exec(url.searchParams.get('query') ?? '')?.[1] ?? '';
    const limit = Number(url.searchParams.get('limit') ?? 100);
    const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
    let taken = 0;
    // Newest first: walk back from the end, as a backward log query does.
    for (let i = rows.length - 1; i >= 0 && taken < limit; i--) {
      const row = rows[i]!;
      if (!row.line.includes(needle)) continue;
      const key = JSON.stringify(row.labels);
      const s = streams.get(key);
      if (s) s.values.push([row.ns, row.line]);
      else streams.set(key, { stream: row.labels, values: [[row.ns, row.line]] });
      taken++;
    }
    const body = JSON.stringify({
      status: 'success',
      data: { resultType: 'streams', result: [...streams.values()], stats: { summary: { execTime: 0 } } },
    });
    const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    if (latencyMs > 0) setTimeout(answer, latencyMs);
    else answer();
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
  });
}

function startInstance(
  host: string,
  events: number,
  latencyMs: number,
): Promise<{ child: ChildProcess; url: string }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', self, '--serve', host, String(events), String(latencyMs)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${host} did not start`)), 30_000);
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve({ child, url: `http://127.0.0.1:${d.toString().trim()}` });
    });
    child.once('exit', (code) => reject(new Error(`instance ${host} exited with ${code}`)));
  });
}

const REQUEST = {
  query: QUERY,
  start: BigInt(Date.UTC(2026, 0, 4)) * 1_000_000n,
  end: BigInt(Date.UTC(2026, 0, 7)) * 1_000_000n,
  limit: LIMIT,
  direction: 'backward' as const,
  stepMs: 60_000,
  categorizeLabels: false,
};

async function timeQuery(fed: Federation): Promise<number> {
  const t = performance.now();
  const { instances } = await fed.queryRange(REQUEST);
  const ms = performance.now() - t;
  const failed = instances.find((r) => !r.ok);
  if (failed) throw new Error(`instance ${failed.name} failed: ${failed.error}`);
  return ms;
}

/** Round-robin over the targets so that warm-up and machine noise fall on all of them alike. */
async function timeInterleaved(targets: Record<string, Federation>): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (let i = 0; i < WARMUP + RUNS; i++) {
    for (const [name, fed] of Object.entries(targets)) {
      const ms = await timeQuery(fed);
      if (i >= WARMUP) samples[name]!.push(ms);
    }
  }
  return samples;
}

async function runScenario(eventsPerInstance: number, latencyMs: number) {
  const names = ['fed-a', 'fed-b', 'fed-c'];
  const started: { child: ChildProcess; url: string }[] = [];
  try {
    for (const name of names) started.push(await startInstance(name, eventsPerInstance, latencyMs));
    const instance = (i: number) => ({
      name: names[i]!,
      url: started[i]!.url,
      auth: { type: 'none' as const },
      headers: {},
    });
    const config = { timeoutMs: 10_000, instanceLabel: 'instance' };
    const targets: Record<string, Federation> = {
      federated: new Federation({ ...config, instances: names.map((_, i) => instance(i)) }),
    };
    names.forEach((name, i) => {
      targets[name] = new Federation({ ...config, instances: [instance(i)] });
    });
    const samples = await timeInterleaved(targets);
    const single = Object.fromEntries(names.map((n) => [n, stats(samples[n]!)]));
    const federated = stats(samples.federated!);
    const slowest = Math.max(...Object.values(single).map((s) => s.p50));
    return {
      latencyMs,
      singleMs: single,
      federatedMs: federated,
      ratioP50: round(federated.p50 / slowest, 2),
    };
  } finally {
    for (const s of started) s.child.kill('SIGTERM');
  }
}

/**
 * Two settings: instances answering as fast as this machine can (all four processes share its 2 cores, so the
 * fan-out's own cost shows), and instances behind 50 ms of query-plus-network time, as remote Lokis or
 * collectors on other machines are (the setting the target is about: fan-out in parallel, merge cheap).
 */
export async function runFederationBench(eventsPerInstance = Number(process.env.BENCH_FED_EVENTS ?? 20_000)) {
  return {
    query: QUERY,
    limit: LIMIT,
    eventsPerInstance,
    runs: RUNS,
    local: await runScenario(eventsPerInstance, 0),
    remote: await runScenario(eventsPerInstance, 50),
    target: '<= 1.3x the slowest single instance (p50)',
  };
}

if (process.argv[2] === '--serve') {
  serveInstance(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5] ?? 0));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await runFederationBench(), null, 2)}\n`);
}
