/**
 * `health` (alias `doctor`): one check per thing that has to be right for capture to work and for the data
 * to be trustworthy. Each check is ok, warn (works, but look at it) or fail (broken), and every warn or
 * fail says how to fix it.
 */
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readArchiveRecords } from '../audit/archive.ts';
import { asCheckpointRecord, CHECKPOINT_FILE, checkCheckpoint } from '../audit/checkpoint.ts';
import { computeEntryHash, loadPublicKey, readEntries } from '../audit/index.ts';
import { isOurHandler, listProjects, readSettings } from '../capture/settings.ts';
import * as spool from '../capture/spool.ts';
import { readPidFile, runningPid } from '../collector/control.ts';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { completePrefix } from './backup.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface HealthCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

export const MIN_NODE_MAJOR = 20;
export const DASHBOARD_PORT = 3000;
const ok = (name: string, detail: string): HealthCheck => ({ name, status: 'ok', detail });
const bad = (name: string, status: 'warn' | 'fail', detail: string, fix: string): HealthCheck => ({
  name,
  status,
  detail,
  fix,
});

export function checkNode(version = process.versions.node): HealthCheck {
  const major = Number(version.split('.')[0]);
  return major >= MIN_NODE_MAJOR
    ? ok('node', `Node.js ${version}`)
    : bad('node', 'fail', `Node.js ${version} is too old`, `install Node.js ${MIN_NODE_MAJOR} or newer`);
}

export function checkDataDir(paths: DataPaths): HealthCheck {
  if (!existsSync(paths.home)) {
    return bad('data dir', 'fail', `${paths.home} does not exist`, 'create it: claude-telemetry setup');
  }
  const st = statSync(paths.home);
  const problems: string[] = [];
  const fixes: string[] = [];
  if ((st.mode & 0o777) !== 0o700) {
    problems.push(`mode ${(st.mode & 0o777).toString(8)} (others can read what agents did)`);
    fixes.push(`chmod 700 '${paths.home}'`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    problems.push(`owned by uid ${st.uid}, not by you (uid ${uid})`);
    fixes.push(`sudo chown -R ${uid} '${paths.home}'`);
  }
  return problems.length === 0
    ? ok('data dir', `${paths.home} (0700, yours)`)
    : bad('data dir', 'fail', `${paths.home}: ${problems.join('; ')}`, fixes.join(' && '));
}

/** 'free', 'ours' (answers as our API), or 'other'. */
export async function portOwner(
  host: string,
  port: number,
  timeoutMs = 1000,
): Promise<'free' | 'ours' | 'other'> {
  const free = await new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
  if (free) return 'free';
  // A ref'd timer: AbortSignal.timeout() would not keep the process alive while a silent peer holds on.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/loki/api/v1/status/buildinfo`;
    const res = await fetch(url, { signal: ctl.signal });
    const body = (await res.json()) as { claude_telemetry_version?: unknown };
    return typeof body.claude_telemetry_version === 'string' ? 'ours' : 'other';
  } catch {
    return 'other';
  } finally {
    clearTimeout(timer);
  }
}

export async function checkPorts(config: Pick<Config, 'server'>): Promise<HealthCheck[]> {
  const out: HealthCheck[] = [];
  const { host, port, enabled } = config.server;
  if (!enabled || port === 0)
    out.push(ok('port (API)', enabled ? 'a free port is picked at start' : 'API disabled'));
  else {
    const who = await portOwner(host, port);
    out.push(
      who === 'other'
        ? bad(
            'port (API)',
            'fail',
            `${host}:${port} is in use by another program`,
            `stop that program (see: lsof -i :${port}) or set server.port in config.yaml`,
          )
        : ok('port (API)', `${host}:${port} ${who === 'free' ? 'free' : 'served by our collector'}`),
    );
  }
  const dash = await portOwner('127.0.0.1', DASHBOARD_PORT);
  out.push(
    dash === 'other'
      ? bad(
          'port (dashboard)',
          'warn',
          `127.0.0.1:${DASHBOARD_PORT} is in use by another program`,
          `free port ${DASHBOARD_PORT} (see: lsof -i :${DASHBOARD_PORT}) before serving the dashboard`,
        )
      : ok(
          'port (dashboard)',
          `127.0.0.1:${DASHBOARD_PORT} ${dash === 'free' ? 'free' : 'served by our collector'}`,
        ),
  );
  return out;
}

export function checkCollector(paths: DataPaths): HealthCheck {
  const pid = runningPid(paths);
  if (pid !== undefined) return ok('collector', `running (pid ${pid})`);
  const stale = readPidFile(paths.pidFile);
  return bad(
    'collector',
    'fail',
    stale !== undefined ? `not running (stale pid file names pid ${stale})` : 'not running',
    'start it: claude-telemetry start (its log: logs/collector.log)',
  );
}

/** The hook script a registered command sources: `set -- <scope> '<path>'; ...` (see capture/settings.ts). */
export function hookScriptOf(command: string): string | null {
  const m = /^set -- \S+ '((?:[^']|'\\'')*)'/.exec(command);
  return m ? (m[1] as string).replaceAll(`'\\''`, "'") : null;
}

function ourCommands(doc: Record<string, unknown>): string[] {
  const hooks = doc.hooks;
  if (hooks === null || typeof hooks !== 'object') return [];
  const out: string[] = [];
  for (const groups of Object.values(hooks as Record<string, unknown>)) {
    if (!Array.isArray(groups)) continue;
    for (const g of groups) {
      const list = (g as { hooks?: unknown })?.hooks;
      if (!Array.isArray(list)) continue;
      for (const h of list) if (isOurHandler(h)) out.push((h as { command: string }).command);
    }
  }
  return out;
}

export function checkHooks(paths: DataPaths): HealthCheck[] {
  const projects = listProjects(paths);
  if (projects.length === 0) {
    return [
      bad(
        'hooks',
        'warn',
        'no project is connected',
        'run `claude-telemetry connect` inside a project (or --global)',
      ),
    ];
  }
  return projects.map((p) => {
    const name = `hooks ${p.target === 'global' ? '(global)' : p.path}`;
    const reconnect = `claude-telemetry connect ${p.target === 'global' ? '--global' : `'${p.path}'${p.target === 'local' ? ' --local' : ''}`}`;
    let doc: Record<string, unknown> | null;
    try {
      doc = readSettings(p.file) as Record<string, unknown> | null;
    } catch (err) {
      return bad(
        name,
        'fail',
        `${p.file} cannot be read: ${(err as Error).message}`,
        `fix the file, then: ${reconnect}`,
      );
    }
    if (doc === null) return bad(name, 'fail', `${p.file} is gone`, `reconnect: ${reconnect}`);
    const commands = ourCommands(doc);
    if (commands.length === 0)
      return bad(name, 'fail', `${p.file} no longer holds our hooks`, `reconnect: ${reconnect}`);
    const scripts = new Set(commands.map(hookScriptOf));
    for (const script of scripts) {
      if (script === null)
        return bad(name, 'fail', `${p.file}: a hook command is not one we wrote`, `reconnect: ${reconnect}`);
      if (!existsSync(script)) {
        return bad(
          name,
          'fail',
          `the hook script ${script} does not exist`,
          `reinstall it: claude-telemetry setup, then ${reconnect}`,
        );
      }
      try {
        accessSync(script, constants.R_OK | constants.X_OK);
      } catch {
        return bad(
          name,
          'fail',
          `the hook script ${script} is not executable`,
          `chmod 755 '${script}' (or: claude-telemetry setup)`,
        );
      }
      if (script !== paths.hook) {
        return bad(name, 'warn', `events go to another data dir (${script})`, `to record here: ${reconnect}`);
      }
    }
    return ok(name, `${commands.length} hooks in ${p.file}`);
  });
}

export function checkSpool(paths: DataPaths, collectorRunning: boolean, now = Date.now()): HealthCheck {
  const n = spool.backlog(paths);
  if (n === 0) return ok('spool', 'empty');
  if (!collectorRunning) {
    return bad(
      'spool',
      'warn',
      `${n} events wait in the spool`,
      'start the collector: claude-telemetry start',
    );
  }
  let oldest = now;
  for (const name of spool.listReady(paths).slice(0, 5000)) {
    try {
      oldest = Math.min(oldest, statSync(join(paths.spoolNew, name)).mtimeMs);
    } catch {
      // ingested meanwhile
    }
  }
  const age = now - oldest;
  return age > 5 * 60_000
    ? bad(
        'spool',
        'fail',
        `${n} events waiting, the oldest for ${Math.round(age / 60_000)} min: the collector is not ingesting`,
        'look at logs/collector.log, then: claude-telemetry restart',
      )
    : ok('spool', `${n} events being ingested`);
}

export function checkQuarantine(paths: DataPaths): HealthCheck {
  const n = spool.quarantineCount(paths);
  return n === 0
    ? ok('quarantine', 'empty')
    : bad(
        'quarantine',
        'warn',
        `${n} inputs could not be read as events`,
        `see the *.reason.json files in ${paths.quarantine}; retention removes them (claude-telemetry cleanup)`,
      );
}

export function checkDisk(paths: DataPaths): HealthCheck {
  const target = existsSync(paths.home) ? paths.home : join(paths.home, '..');
  const s = statfsSync(target);
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const detail = `${(free / 1e9).toFixed(1)} GB free of ${(total / 1e9).toFixed(1)} GB`;
  if (free < 100e6) {
    return bad(
      'disk',
      'fail',
      detail,
      'free space: claude-telemetry cleanup (set retention: in config.yaml) or delete files',
    );
  }
  if (free < 1e9 || free < total * 0.05) {
    return bad(
      'disk',
      'warn',
      detail,
      'set retention limits in config.yaml and run claude-telemetry cleanup',
    );
  }
  return ok('disk', detail);
}

/**
 * Quick audit check: the last checkpoint's signature, that the entry it signed is the one in the log, and
 * the chain of the entries after it (the part no signature covers yet). `claude-telemetry verify` checks all.
 */
export async function checkAuditTail(paths: DataPaths): Promise<HealthCheck> {
  const name = 'audit log';
  const fix = 'run claude-telemetry verify for the full report';
  const cpFile = join(paths.audit, CHECKPOINT_FILE);
  let from = 1;
  let signedHead: { size: number; head: string } | null = null;
  if (existsSync(cpFile)) {
    const { lastLine } = completePrefix(cpFile);
    if (lastLine !== null) {
      const key = loadPublicKey(paths.keys);
      let rec: ReturnType<typeof asCheckpointRecord> = null;
      try {
        rec = asCheckpointRecord(JSON.parse(lastLine));
      } catch {
        rec = null;
      }
      if (!rec) return bad(name, 'fail', `the last line of ${CHECKPOINT_FILE} is not a checkpoint`, fix);
      if (!key) return bad(name, 'fail', 'no public key (keys/audit-ed25519.pub) to check checkpoints', fix);
      const p = checkCheckpoint(rec, null, key);
      if (p && p.kind !== 'checkpoint-chain') return bad(name, 'fail', `last checkpoint: ${p.message}`, fix);
      signedHead = { size: rec.size, head: rec.head };
      from = Math.max(1, rec.size);
    }
  }
  let expected = from;
  let prev: string | null = null;
  // Entries already archived (audit/archive/) are checked by verify; start after the last archived one.
  const anchor = readArchiveRecords(paths.audit).records.at(-1)?.rec;
  if (anchor && from <= anchor.last_seq) {
    if (signedHead?.size === anchor.last_seq && signedHead.head !== anchor.last_hash) {
      return bad(name, 'fail', `the last archived entry is not the one the last checkpoint signed`, fix);
    }
    expected = anchor.last_seq + 1;
    prev = anchor.last_hash;
  }
  try {
    for await (const e of readEntries(paths.audit, expected)) {
      if (e.seq !== expected)
        return bad(name, 'fail', `seq ${expected} is missing after the last checkpoint`, fix);
      if (computeEntryHash(e) !== e.hash) return bad(name, 'fail', `entry ${e.seq} was altered`, fix);
      if (prev !== null && e.prev !== prev)
        return bad(name, 'fail', `entry ${e.seq} does not link to ${e.seq - 1}`, fix);
      if (signedHead && e.seq === signedHead.size && e.hash !== signedHead.head) {
        return bad(name, 'fail', `entry ${e.seq} is not the one the last checkpoint signed`, fix);
      }
      prev = e.hash;
      expected++;
    }
  } catch (err) {
    return bad(name, 'fail', (err as Error).message, fix);
  }
  if (signedHead && signedHead.size > 0 && expected <= signedHead.size) {
    return bad(
      name,
      'fail',
      `the log ends before the last checkpoint (size ${signedHead.size}): truncated`,
      fix,
    );
  }
  const tail = Math.max(0, expected - 1 - (signedHead?.size ?? 0));
  if (expected === 1) return ok(name, 'empty');
  return ok(name, `${expected - 1} entries; the ${tail} after the last signed checkpoint check out`);
}

export function checkStore(paths: DataPaths): HealthCheck {
  if (!existsSync(paths.storeFile)) return ok('store', 'not created yet (the collector creates it)');
  let store: Store;
  try {
    store = Store.open(paths.storeFile, { readonly: true });
  } catch (err) {
    return bad(
      'store',
      'fail',
      `cannot open ${paths.storeFile}: ${(err as Error).message}`,
      'rebuild it from the audit log: claude-telemetry stop && claude-telemetry reindex',
    );
  }
  try {
    const found = store.quickCheck();
    return found.length === 0
      ? ok('store', `integrity ok, ${store.stats().events} events`)
      : bad(
          'store',
          'fail',
          `integrity check failed: ${found.slice(0, 3).join('; ')}`,
          'rebuild it from the audit log: claude-telemetry stop && claude-telemetry reindex',
        );
  } finally {
    store.close();
  }
}

/** Every check, in a stable order. */
export async function runHealthChecks(
  paths: DataPaths,
  config: Pick<Config, 'server'>,
): Promise<HealthCheck[]> {
  const collector = checkCollector(paths);
  return [
    checkNode(),
    checkDataDir(paths),
    ...(await checkPorts(config)),
    collector,
    ...checkHooks(paths),
    checkSpool(paths, collector.status === 'ok'),
    checkQuarantine(paths),
    checkDisk(paths),
    await checkAuditTail(paths),
    checkStore(paths),
  ];
}
