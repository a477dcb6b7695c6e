import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { installHook } from '../../src/capture/install.ts';
import * as spool from '../../src/capture/spool.ts';
import { type DataPaths, dataPaths } from '../../src/config/paths.ts';
import { QuarantineError } from '../../src/types.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function home(): DataPaths {
  const root = mkdtempSync(join(tmpdir(), 'ct-spool-'));
  roots.push(root);
  const paths = dataPaths(join(root, 'data'));
  installHook(paths);
  return paths;
}

const UUID = '0b5f8c1e-2d3a-4f6b-9c7d-8e9f0a1b2c3d';

function put(paths: DataPaths, name: string, content: string | Buffer, dir: 'new' | 'tmp' = 'new'): string {
  const p = join(dir === 'new' ? paths.spoolNew : paths.spoolTmp, name);
  writeFileSync(p, content);
  return p;
}

describe('listReady and readRecord', () => {
  test('lists spool/new, skipping dot files; a missing directory is empty', () => {
    const paths = home();
    put(paths, `1.${UUID}.project`, 'CT1 /p\n{}');
    put(paths, '.editor-swap', 'x');
    assert.deepEqual(spool.listReady(paths), [`1.${UUID}.project`]);
    rmSync(paths.spoolNew, { recursive: true });
    assert.deepEqual(spool.listReady(paths), []);
  });

  test('splits the CT1 header from the payload', () => {
    const paths = home();
    const name = `4242.${UUID}.global`;
    const path = put(paths, name, 'CT1 /home/dev/my project\n{"a":1}\n');
    const rec = spool.readRecord(paths, name);
    assert.equal(rec.name, name);
    assert.equal(rec.path, path);
    assert.equal(rec.scope, 'global');
    assert.equal(rec.projectDir, '/home/dev/my project');
    assert.equal(rec.body.toString(), '{"a":1}\n');
  });

  test('an empty project dir is null; an empty payload is an empty body', () => {
    const paths = home();
    put(paths, `1.${UUID}.local`, 'CT1 \n');
    const rec = spool.readRecord(paths, `1.${UUID}.local`);
    assert.equal(rec.projectDir, null);
    assert.equal(rec.body.length, 0);
    assert.equal(rec.scope, 'local');
  });

  test('a file without the header is all payload', () => {
    const paths = home();
    for (const content of ['{"raw":true}', 'CT1 no newline', 'ct1 /lower\n{}', '']) {
      put(paths, `7.${UUID}.demo`, content);
      const rec = spool.readRecord(paths, `7.${UUID}.demo`);
      assert.equal(rec.projectDir, null);
      assert.equal(rec.body.toString(), content);
    }
  });

  test('keeps binary payloads byte for byte', () => {
    const paths = home();
    const garbage = Buffer.from([0, 255, 10, 13, 0x43, 0x54, 0x31, 0x20, 0xc3, 0x28, 10, 0]);
    put(paths, `9.${UUID}.project`, Buffer.concat([Buffer.from('CT1 /p\n'), garbage]));
    assert.deepEqual(spool.readRecord(paths, `9.${UUID}.project`).body, garbage);
  });

  test('scope comes from the last part of the name, unknown when not a known scope', () => {
    assert.equal(spool.scopeOf(`1.${UUID}.project`), 'project');
    assert.equal(spool.scopeOf('1.2.3.sess.global'), 'global');
    assert.equal(spool.scopeOf(`1.${UUID}.unknown`), 'unknown');
    assert.equal(spool.scopeOf(`1.${UUID}.weird`), 'unknown');
    assert.equal(spool.scopeOf('noscope'), 'unknown');
    assert.equal(spool.pidOf(`123.${UUID}.project`), 123);
    assert.equal(spool.pidOf('abc.x.project'), null);
  });

  test('mtime keeps sub-millisecond precision', () => {
    const paths = home();
    const name = `1.${UUID}.project`;
    const p = put(paths, name, 'CT1 /p\n{}');
    utimesSync(p, 1_800_000_000.12346, 1_800_000_000.12346);
    const rec = spool.readRecord(paths, name);
    const ns = statSync(p, { bigint: true }).mtimeNs;
    assert.equal(rec.mtimeMs, Number(ns / 1000n) / 1000);
    assert.ok(Math.abs(rec.mtimeMs - 1_800_000_000_123.46) < 0.01, String(rec.mtimeMs));
  });

  test('refuses payloads over the size limit with a QuarantineError, without reading them', () => {
    const paths = home();
    const name = `1.${UUID}.project`;
    put(paths, name, Buffer.alloc(2048, 0x61));
    assert.throws(
      () => spool.readRecord(paths, name, 1024),
      (e: unknown) => e instanceof QuarantineError && e.reason === 'payload too large: 2048 bytes > 1024',
    );
    assert.equal(spool.readRecord(paths, name, 2048).body.length, 2048);
    assert.equal(spool.DEFAULT_MAX_PAYLOAD_BYTES, 16 * 1024 * 1024);
  });
});

describe('sortRecords', () => {
  const rec = (pid: number, mtimeMs: number, id = 'x') => ({ name: `${pid}.${id}.project`, mtimeMs });

  test('orders by mtime, then by pid within one timestamp tick, then by name', () => {
    const records = [rec(50, 2), rec(10, 3), rec(30, 1), rec(20, 1), rec(20, 1, 'a'), rec(5, 2.5)];
    const sorted = spool.sortRecords(records, 4_194_304);
    assert.equal(sorted, records, 'sorts in place');
    assert.deepEqual(
      sorted.map((r) => r.name),
      ['20.a.project', '20.x.project', '30.x.project', '50.x.project', '5.x.project', '10.x.project'],
    );
  });

  test('pids that wrapped around within one tick sort after the large ones', () => {
    const max = 32768;
    const sorted = spool.sortRecords([rec(3, 7), rec(32766, 7), rec(300, 7), rec(32700, 7), rec(1, 6)], max);
    assert.deepEqual(
      sorted.map((r) => spool.pidOf(r.name)),
      [1, 32700, 32766, 3, 300],
    );
    // No wrap: a tick with pids close together stays in plain order.
    assert.deepEqual(
      spool.sortRecords([rec(20000, 1), rec(19999, 1)], max).map((r) => spool.pidOf(r.name)),
      [19999, 20000],
    );
  });

  test('reads pid_max from the kernel', () => {
    const max = spool.pidMax();
    assert.ok(Number.isInteger(max) && max > 0);
    if (existsSync('/proc/sys/kernel/pid_max')) {
      assert.equal(max, Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')));
    }
  });
});

describe('remove, quarantine, backlog', () => {
  test('remove deletes a batch and ignores names already gone', () => {
    const paths = home();
    put(paths, 'a.1.project', 'x');
    put(paths, 'b.1.project', 'x');
    put(paths, 'c.1.project', 'x');
    assert.equal(spool.remove(paths, ['a.1.project', 'b.1.project', 'missing']), 2);
    assert.deepEqual(spool.listReady(paths), ['c.1.project']);
  });

  test('quarantine moves the file and writes its reason', () => {
    const paths = home();
    const name = `12.${UUID}.project`;
    put(paths, name, 'CT1 /p\nnot json');
    const at = new Date('2026-11-21T12:00:00Z');
    const dest = spool.quarantine(paths, name, 'invalid JSON', at);
    assert.equal(dest, join(paths.quarantine, name));
    assert.equal(readFileSync(dest, 'utf8'), 'CT1 /p\nnot json');
    assert.deepEqual(JSON.parse(readFileSync(`${dest}.reason.json`, 'utf8')), {
      reason: 'invalid JSON',
      at: '2026-11-21T12:00:00.000Z',
      size: 15,
    });
    assert.deepEqual(spool.listReady(paths), []);
    assert.equal(spool.quarantineCount(paths), 1);

    // The same name again (a recovered duplicate) does not overwrite the first one.
    put(paths, name, 'second');
    const dest2 = spool.quarantine(paths, name, 'again', at);
    assert.equal(dest2, join(paths.quarantine, `${name}~1`));
    assert.equal(readFileSync(dest, 'utf8'), 'CT1 /p\nnot json');
    assert.equal(spool.quarantineCount(paths), 2);
    assert.deepEqual(
      readdirSync(paths.quarantine).filter((n) => n.startsWith('.')),
      [],
    );
  });

  test('quarantineCount is 0 without a quarantine directory', () => {
    const paths = home();
    rmSync(paths.quarantine, { recursive: true });
    assert.equal(spool.quarantineCount(paths), 0);
  });

  test('backlog counts new/ and tmp/', () => {
    const paths = home();
    assert.equal(spool.backlog(paths), 0);
    put(paths, 'a.1.project', 'x');
    put(paths, 'b.1.project', 'x');
    put(paths, 'c.1.project', 'x', 'tmp');
    assert.equal(spool.backlog(paths), 3);
    assert.deepEqual(spool.backlogDetail(paths), { ready: 2, inFlight: 1 });
  });
});

describe('recoverOrphans', () => {
  // Pid 0 never names a live writer, so these files count as abandoned.
  const orphan = (id: string) => `0.${id}.project`;

  test('moves old files from tmp/ into new/ and leaves young ones', () => {
    const paths = home();
    const old = put(paths, orphan('old'), 'CT1 /p\n{"partial"', 'tmp');
    put(paths, orphan('young'), 'CT1 /p\n{}', 'tmp');
    const now = Date.now();
    utimesSync(old, (now - 120_000) / 1000, (now - 120_000) / 1000);
    assert.deepEqual(spool.recoverOrphans(paths, 60_000, now), [orphan('old')]);
    assert.deepEqual(readdirSync(paths.spoolTmp), [orphan('young')]);
    assert.equal(readFileSync(join(paths.spoolNew, orphan('old')), 'utf8'), 'CT1 /p\n{"partial"');
    assert.deepEqual(spool.recoverOrphans(paths, 0, now + 1000), [orphan('young')]);
    assert.deepEqual(readdirSync(paths.spoolTmp), []);
  });

  test('never overwrites a file of the same name in new/', () => {
    const paths = home();
    put(paths, orphan('dup'), 'in new', 'new');
    put(paths, orphan('dup'), 'in tmp', 'tmp');
    assert.deepEqual(spool.recoverOrphans(paths, 0, Date.now() + 1000), ['0.dup-r1.project']);
    assert.equal(readFileSync(join(paths.spoolNew, orphan('dup')), 'utf8'), 'in new');
    assert.equal(readFileSync(join(paths.spoolNew, '0.dup-r1.project'), 'utf8'), 'in tmp');
    assert.equal(spool.scopeOf('0.dup-r1.project'), 'project');
  });

  test('waits for a writer that is still running', async () => {
    const paths = home();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const name = `${child.pid}.${UUID}.project`;
      put(paths, name, 'CT1 /p\n{', 'tmp');
      const soon = Date.now() + 120_000;
      assert.deepEqual(spool.recoverOrphans(paths, 60_000, soon), []);
      // ...but not forever: after an hour the pid is assumed reused.
      assert.deepEqual(spool.recoverOrphans(paths, 60_000, Date.now() + 2 * 3_600_000), [name]);
    } finally {
      child.kill();
    }
  });

  test('recreates new/ if it is missing', () => {
    const paths = home();
    rmSync(paths.spoolNew, { recursive: true });
    put(paths, orphan('x'), 'CT1 /p\n{}', 'tmp');
    assert.deepEqual(spool.recoverOrphans(paths, 0, Date.now() + 1000), [orphan('x')]);
    assert.ok(existsSync(join(paths.spoolNew, orphan('x'))));
  });
});
