/**
 * health / doctor: each check fails on the fault it is for, and says how to fix it; the CLI exits 1 then.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { listDayFiles } from '../../src/audit/index.ts';
import { connect } from '../../src/capture/settings.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import {
  checkAuditTail,
  checkDataDir,
  checkHooks,
  checkNode,
  checkPorts,
  checkSpool,
  checkStore,
  type HealthCheck,
  hookScriptOf,
} from '../../src/ops/health.ts';
import { cli } from '../helpers.ts';
import { cleanupHomes, opsHome, seedDays } from '../ops-helpers.ts';

after(cleanupHomes);

function project(paths: DataPaths, name: string): string {
  const dir = join(paths.home, name);
  mkdirSync(dir);
  connect({ target: 'project', projectDir: dir, paths });
  return dir;
}

function assertFail(c: HealthCheck, detail: RegExp, fix: RegExp): void {
  assert.equal(c.status, 'fail', JSON.stringify(c));
  assert.match(c.detail, detail);
  assert.match(c.fix ?? '', fix);
}

describe('health checks', () => {
  test('node version and data dir mode', () => {
    assert.equal(checkNode('20.1.0').status, 'ok');
    assertFail(checkNode('18.19.0'), /too old/, /Node\.js 20 or newer/);
    const paths = opsHome('health-dir');
    assert.equal(checkDataDir(paths).status, 'ok');
    chmodSync(paths.home, 0o755);
    assertFail(checkDataDir(paths), /mode 755/, /chmod 700/);
  });

  test('a port held by another program fails; a free one passes', async () => {
    // A program that accepts connections and never answers.
    const sockets: Socket[] = [];
    const srv: Server = createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const [api] = await checkPorts({ server: { ...DEFAULT_CONFIG.server, port } });
      assertFail(api as HealthCheck, new RegExp(`${port} is in use by another program`), /server\.port/);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => srv.close(r));
    }
    const [free] = await checkPorts({ server: { ...DEFAULT_CONFIG.server, port } });
    assert.equal(free?.status, 'ok');
    assert.match(free?.detail ?? '', /free/);
  });

  test('hooks: connected and pointing at our script; gone, missing script, not executable', () => {
    const paths = opsHome('health-hooks');
    const good = project(paths, 'good');
    const [ok] = checkHooks(paths);
    assert.equal(ok?.status, 'ok', JSON.stringify(ok));
    assert.match(ok?.detail ?? '', /hooks in .*good/);

    const settings = join(good, '.claude', 'settings.json');
    writeFileSync(settings, '{}\n');
    assertFail(checkHooks(paths)[0] as HealthCheck, /no longer holds our hooks/, /claude-telemetry connect/);
    project(paths, 'again');

    chmodSync(paths.hook, 0o644);
    const notExec = checkHooks(paths).find((c) => c.name.endsWith('again')) as HealthCheck;
    assertFail(notExec, /not executable/, /chmod 755/);
    chmodSync(paths.hook, 0o755);
    // A registry entry whose hook script is gone (a data dir moved away).
    const moved = { ...paths, hook: join(paths.home, 'elsewhere', 'capture-hook.sh') };
    mkdirSync(join(paths.home, 'third'));
    connect({ target: 'project', projectDir: join(paths.home, 'third'), paths: moved });
    const missing = checkHooks(paths).find((c) => c.name.endsWith('third')) as HealthCheck;
    assertFail(missing, /does not exist/, /claude-telemetry setup/);
    assert.equal(hookScriptOf(`set -- project '/a/it'\\''s/h.sh'; if …`), "/a/it's/h.sh");
  });

  test('spool: waiting with no collector is a warning; stuck while it runs is a failure', () => {
    const paths = opsHome('health-spool');
    writeFileSync(join(paths.spoolNew, '1.a.project'), 'CT1 /p\n{}');
    assert.equal(checkSpool(paths, false).status, 'warn');
    assert.equal(checkSpool(paths, true).status, 'ok');
    assertFail(checkSpool(paths, true, Date.now() + 10 * 60_000), /not ingesting/, /collector\.log/);
  });

  test('audit tail: an entry edited after the last checkpoint, or the signed entry replaced, fails', async () => {
    const paths = opsHome('health-audit');
    await seedDays(paths, { perDay: 50, days: 2, checkpointDaily: false });
    assert.equal((await checkAuditTail(paths)).status, 'ok');
    const day = join(paths.audit, listDayFiles(paths.audit)[1] as string);
    const lines = readFileSync(day, 'utf8').split('\n');
    lines[10] = (lines[10] as string).replace('"level":"INFO"', '"level":"WARN"');
    writeFileSync(day, lines.join('\n'));
    assertFail(await checkAuditTail(paths), /entry \d+ was altered/, /claude-telemetry verify/);
  });

  test('store: a damaged database file fails with the rebuild command', async () => {
    const paths = opsHome('health-store');
    await seedDays(paths, { perDay: 3000, days: 1 });
    assert.equal(checkStore(paths).status, 'ok');
    const fd = openSync(paths.storeFile, 'r+');
    const size = statSync(paths.storeFile).size;
    for (let off = 8192; off < size; off += 4096 * 7) writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, off);
    closeSync(fd);
    assertFail(checkStore(paths), /integrity check failed|cannot open/, /reindex/);
  });

  test('CLI: exit 1 with a fix per failure, --json, and the doctor alias', () => {
    const paths = opsHome('health-cli');
    const r = cli(paths, ['health']);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /FAIL {2}collector +not running/);
    assert.match(r.stdout, /fix: start it: claude-telemetry start/);
    const j = cli(paths, ['doctor', '--json']);
    assert.equal(j.status, 1);
    const rep = JSON.parse(j.stdout) as { ok: boolean; checks: HealthCheck[] };
    assert.equal(rep.ok, false);
    for (const c of rep.checks) if (c.status !== 'ok') assert.ok(c.fix, `${c.name} says how to fix it`);
    assert.deepEqual(rep.checks.map((c) => c.name).slice(0, 2), ['node', 'data dir']);
  });
});
