import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { AuditLog } from '../src/audit/index.ts';
import { Pipeline } from '../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';
import { startApiServer } from '../src/server/index.ts';
import { encodeSnappyPush, toJsonPush, type WireStream } from '../src/sinks/loki-wire.ts';
import { Store } from '../src/store/index.ts';
import { round, tempHome } from './util.ts';

/**
 * Push ingest through the HTTP API: pre-encoded push requests (1,000 lines each, the batch size Promtail and
 * Alloy default to) posted one after another to the real server on 127.0.0.1, which decodes them, turns every
 * line into an event, appends + fsyncs the audit log and commits the store before answering 204. Client and
 * server share this process and core (bodies are encoded before the clock starts), so the figure is what one
 * core does for both.
 */
export async function runPushBench(lines = 40_000, perRequest = 1000) {
  return {
    linesPerRequest: perRequest,
    protobufSnappy: await pushRun('protobuf', lines, perRequest),
    json: await pushRun('json', lines, perRequest),
  };
}

const LEVELS = ['info', 'info', 'info', 'warn', 'error'];

/** Lines shaped like an app's access log: a few streams, a trace id as structured metadata. */
function makeStreams(from: number, count: number, baseNs: bigint): WireStream[] {
  const byStream = new Map<string, WireStream>();
  for (let i = from; i < from + count; i++) {
    const level = LEVELS[i % LEVELS.length] as string;
    const host = `web-${i % 3}`;
    const key = `${host}/${level}`;
    let s = byStream.get(key);
    if (!s) {
      s = { labels: { job: 'nginx', host, level }, entries: [] };
      byStream.set(key, s);
    }
    s.entries.push({
      timestampNs: baseNs + BigInt(i) * 1000n,
      line: `10.0.${i % 256}.${(i >> 8) % 256} - - "GET /api/items/${i}?page=${i % 17} HTTP/1.1" ${level === 'error' ? 500 : 200} ${1000 + (i % 5000)} "-" "curl/8.5.0" rt=0.${i % 1000}`,
      structuredMetadata: { trace_id: (i * 2654435761).toString(16).padStart(16, '0') },
    });
  }
  return [...byStream.values()];
}

function post(port: number, body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/loki/api/v1/push',
        method: 'POST',
        headers: { 'Content-Type': contentType, 'Content-Length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function pushRun(encoding: 'protobuf' | 'json', lines: number, perRequest: number) {
  const paths = tempHome(`push-${encoding}`);
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  const store = Store.open(paths.storeFile);
  const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  const api = await startApiServer({ store, pipeline, host: '127.0.0.1', port: 0 });
  const baseNs = BigInt(Date.now()) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < lines; i += perRequest) {
    const streams = makeStreams(i, Math.min(perRequest, lines - i), baseNs);
    bodies.push(
      encoding === 'protobuf' ? encodeSnappyPush(streams) : Buffer.from(JSON.stringify(toJsonPush(streams))),
    );
  }
  const type = encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
  try {
    // One warm-up request (JIT, SQLite page cache), not counted: its lines are pushed again below as duplicates.
    await post(api.port, bodies[0] as Buffer, type);
    const latencies: number[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const body of bodies) {
      const t = performance.now();
      const status = await post(api.port, body, type);
      latencies.push(performance.now() - t);
      if (status !== 204) throw new Error(`push answered ${status}`);
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const stored = store.stats().events;
    if (stored !== lines) throw new Error(`stored ${stored} of ${lines}`);
    latencies.sort((a, b) => a - b);
    return {
      lines,
      requests: bodies.length,
      bodyKiB: round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length / 1024, 1),
      wallMs: Math.round(ms),
      linesPerSec: Math.round((lines / ms) * 1000),
      linesPerCpuSec: Math.round((lines / ((cpu.user + cpu.system) / 1000)) * 1000),
      requestMsP50: round(latencies[Math.floor(latencies.length / 2)] as number, 1),
    };
  } finally {
    await api.close();
    audit.close();
    store.close();
    rmSync(paths.home, { recursive: true, force: true });
  }
}
