import { rmSync } from 'node:fs';
import { AuditLog } from '../src/audit/index.ts';
import { installHook } from '../src/capture/install.ts';
import * as spool from '../src/capture/spool.ts';
import { storeRowOf } from '../src/collector/audit-to-store.ts';
import { Collector } from '../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';
import { normalize } from '../src/ingest/index.ts';
import { Store } from '../src/store/index.ts';
import { benchNormalizeContext, round, tempHome, writeSpool } from './util.ts';

/**
 * Whole-pipeline throughput on one core: N ready spool files (real captured payloads, 40 per session) read,
 * parsed, normalized (scope, reduce, redact), appended + fsync'd to the audit log, committed to SQLite,
 * and deleted. The collector is single-threaded, so this is one core's worth.
 */
export async function runIngestBench(n = 20_000) {
  const paths = tempHome('ingest');
  installHook(paths);
  const c = await Collector.open(paths, DEFAULT_CONFIG);
  // Warm-up: the spool I/O worker starts, code is compiled and the store's caches fill before the clock runs.
  writeSpool(paths, 1000);
  await c.drainAsync();
  writeSpool(paths, n);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const stored = await c.drainAsync();
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
    stagesUsPerEvent: stageBreakdown(n),
  };
}

/** The same work stage by stage, timed separately (µs per event), to show where the time goes. */
function stageBreakdown(n: number): Record<string, number> {
  const paths = tempHome('stages');
  installHook(paths);
  writeSpool(paths, n);
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  const store = Store.open(paths.storeFile);
  const ctx = benchNormalizeContext();
  const t: Record<string, number> = { read: 0, normalize: 0, audit: 0, store: 0, delete: 0 };
  const lap = (k: string, since: number) => {
    t[k] = (t[k] ?? 0) + performance.now() - since;
    return performance.now();
  };
  const names = spool.listReady(paths);
  for (let i = 0; i < names.length; i += DEFAULT_CONFIG.ingest.batchSize) {
    const batch = names.slice(i, i + DEFAULT_CONFIG.ingest.batchSize);
    let at = performance.now();
    const recs = spool.sortRecords(batch.map((name) => spool.readRecord(paths, name)));
    at = lap('read', at);
    const events = recs.map((r) => normalize(r, ctx));
    at = lap('normalize', at);
    const entries = audit.append(events);
    at = lap('audit', at);
    store.insertBatch(entries.map(storeRowOf));
    at = lap('store', at);
    spool.remove(paths, batch);
    lap('delete', at);
  }
  audit.close();
  store.close();
  rmSync(paths.home, { recursive: true, force: true });
  const out: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(t)) {
    out[k] = round((v * 1000) / n, 1);
    total += v;
  }
  out.total = round((total * 1000) / n, 1);
  return out;
}
