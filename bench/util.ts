import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { type DataPaths, dataPaths } from '../src/config/paths.ts';
import { type NormalizeContext, ScopeCache } from '../src/ingest/index.ts';
import type { SpoolRecord } from '../src/types.ts';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: round(percentile(s, 50)),
    p95: round(percentile(s, 95)),
    p99: round(percentile(s, 99)),
    mean: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
  };
}

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Median of the samples (the mean of the middle two for an even count); NaN for none. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function tempHome(tag: string): DataPaths {
  return dataPaths(mkdtempSync(join(tmpdir(), `ct-bench-${tag}-`)));
}

export function machine() {
  const cpu = cpus()[0]?.model ?? 'unknown';
  const sh = spawnSync('sh', ['-c', 'readlink -f /bin/sh'], { encoding: 'utf8' }).stdout.trim();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: `${cpus().length} x ${cpu}`,
    memGiB: round(totalmem() / 2 ** 30, 1),
    sh,
  };
}

const FIXTURE = fileURLToPath(
  new URL('../test/fixtures/claude-code/hook-payloads.full.2.1.329.jsonl', import.meta.url),
);

/** Real captured payloads, used as templates for synthetic load. */
export function fixturePayloads(): Record<string, unknown>[] {
  return readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The fixture payloads as spool records of one project (time 0), ready to normalize into event templates. */
export function fixtureSpoolRecords(projectDir = '/home/dev/project'): SpoolRecord[] {
  return fixturePayloads().map((p, i) => ({
    name: `${i}.t.project`,
    path: '',
    mtimeMs: 0,
    scope: 'project',
    projectDir,
    body: Buffer.from(JSON.stringify(p)),
  }));
}

/** Writes n ready spool files directly (header + payload), sessions of `perSession` events each. */
export function writeSpool(
  paths: DataPaths,
  n: number,
  perSession = 40,
  projectDir = '/home/dev/project',
): void {
  const templates = fixturePayloads();
  let session = randomUUID();
  let pid = 1000;
  for (let i = 0; i < n; i++) {
    if (i % perSession === 0) session = randomUUID();
    const t = templates[i % templates.length] as Record<string, unknown>;
    const body = JSON.stringify({ ...t, session_id: session });
    const name = `${pid++}.${randomUUID()}.project`;
    writeFileSync(join(paths.spoolNew, name), `CT1 ${projectDir}\n${body}`);
  }
}

/** How the benchmarks normalize: metadata capture, a fresh scope cache, this host. */
export function benchNormalizeContext(): NormalizeContext {
  return {
    user: 'bench',
    host: hostname(),
    telemetryVersion: '0',
    capture: 'metadata',
    scopeCache: new ScopeCache(),
  };
}

/** The built CLI (npm run build): what `claude-telemetry` runs. */
export const BUILT_CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/**
 * Starts the built collector on a data dir as users do (`claude-telemetry start`: its own process and node
 * flags), its API and dashboard on free ports. Returns its pid.
 */
export function startBuiltCollector(paths: DataPaths): number {
  writeFileSync(paths.config, 'server:\n  port: 0\ndashboard:\n  port: 0\n');
  const started = spawnSync(process.execPath, [BUILT_CLI, 'start', '--json'], {
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    encoding: 'utf8',
  });
  if (started.status !== 0) throw new Error(`start exited with ${started.status}: ${started.stderr}`);
  return (JSON.parse(started.stdout) as { pid: number }).pid;
}

/**
 * The store's count of stored events, read from its meta row (one indexed row) through a read-only
 * connection: a progress probe that costs the collector under test next to nothing, unlike listing a spool
 * of thousands of files. `close()` when done.
 */
export function storedEventCounter(paths: DataPaths): { stored: () => number; close: () => void } {
  const db = new Database(paths.storeFile, { readonly: true });
  const counter = db.prepare("SELECT value FROM meta WHERE key = 'events'");
  return { stored: () => (counter.get() as { value: number }).value, close: () => db.close() };
}
