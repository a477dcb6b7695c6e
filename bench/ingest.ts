import { rmSync } from 'node:fs';
import { installHook } from '../src/capture/install.ts';
import { Collector } from '../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';
import { tempHome, writeSpool } from './util.ts';

/**
 * Whole-pipeline throughput on one core: N ready spool files (real captured payloads, 40 per session) read,
 * parsed, normalized (scope, reduce, redact), appended + fsync'd to the audit log, committed to SQLite,
 * and deleted. The collector is single-threaded, so this is one core's worth.
 */
export async function runIngestBench(n = 20_000) {
  const paths = tempHome('ingest');
  installHook(paths);
  writeSpool(paths, n);
  const c = await Collector.open(paths, DEFAULT_CONFIG);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const stored = c.drain();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  await c.stop();
  rmSync(paths.home, { recursive: true, force: true });
  if (stored !== n) throw new Error(`stored ${stored} of ${n}`);
  return {
    events: n,
    wallMs: Math.round(ms),
    eventsPerSec: Math.round((n / ms) * 1000),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    eventsPerCpuSec: Math.round((n / ((cpu.user + cpu.system) / 1000)) * 1000),
  };
}
