import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { installHook } from '../../src/capture/install.ts';
import * as spool from '../../src/capture/spool.ts';
import { CollectorIO, readSync, useWorkerThread } from '../../src/collector/io.ts';
import { rowValuesOf, Store } from '../../src/store/index.ts';
import { QuarantineError } from '../../src/types.ts';
import { notificationEvent, tempPaths, writeSpoolFiles } from '../helpers.ts';

const paths = tempPaths('collector-io');
installHook(paths);
const logs: string[] = [];
// With the worker whatever this machine's CPU count: the tests below are of the worker.
const io = new CollectorIO(paths, (m) => logs.push(m), undefined, true);
after(() => io.close());

test('the worker reads records exactly as the synchronous reader does', async () => {
  writeSpoolFiles(paths, 25);
  const names = spool.listReady(paths).sort();
  const viaWorker = await io.read(names, 1 << 20);
  const direct = readSync(paths, names, 1 << 20);
  assert.equal(viaWorker.records.length, 25);
  assert.deepEqual(viaWorker.failures, []);
  const key = (r: { name: string }) => r.name;
  const a = [...viaWorker.records].sort((x, y) => key(x).localeCompare(key(y)));
  const b = [...direct.records].sort((x, y) => key(x).localeCompare(key(y)));
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    assert.ok(x && y);
    assert.equal(x.name, y.name);
    assert.equal(x.path, y.path);
    assert.equal(x.mtimeMs, y.mtimeMs);
    assert.equal(x.scope, y.scope);
    assert.equal(x.projectDir, y.projectDir);
    assert.ok(Buffer.isBuffer(x.body));
    assert.ok(x.body.equals(y.body));
  }
  assert.deepEqual(logs, [], 'the worker started and answered');
});

test('oversized files come back as quarantine reasons, vanished files are skipped', async () => {
  const big = '1.aaaa.project';
  writeFileSync(join(paths.spoolNew, big), `CT1 /p\n${'x'.repeat(2000)}`);
  const res = await io.read([big, '2.gone.project'], 1000);
  assert.equal(res.records.length, 0);
  assert.equal(res.failures.length, 1);
  const f = res.failures[0];
  assert.ok(f?.err instanceof QuarantineError);
  assert.match((f.err as QuarantineError).reason, /payload too large/);
});

test('removals happen in the background, are tracked until done, and flush waits for them', async () => {
  const names = spool.listReady(paths);
  assert.ok(names.length > 0);
  io.remove(names);
  for (const n of names) assert.ok(io.pendingRemoval.has(n));
  await io.flush();
  assert.equal(io.pendingRemoval.size, 0);
  assert.deepEqual(readdirSync(paths.spoolNew), []);
  for (const n of names) assert.equal(existsSync(join(paths.spoolNew, n)), false);
});

test('a removal of many files, some already gone, removes every one that is there', async () => {
  writeSpoolFiles(paths, 40);
  const names = spool.listReady(paths);
  assert.equal(names.length, 40);
  spool.remove(paths, names.slice(0, 5));
  io.remove([...names, '9.never-there.project']);
  await io.flush();
  assert.deepEqual(readdirSync(paths.spoolNew), []);
  assert.deepEqual(logs, [], 'vanished files are not an error');
});

test('a read asked for after a large removal is answered before that removal has finished', async () => {
  writeSpoolFiles(paths, 3000);
  const names = spool.listReady(paths);
  const keep = names.slice(0, 10);
  io.remove(names.slice(10));
  const read = await io.read(keep, 1 << 20);
  assert.equal(read.records.length, 10);
  assert.ok(io.pendingRemoval.size > 0, 'the removal is still under way when the read comes back');
  await io.flush();
  assert.deepEqual(readdirSync(paths.spoolNew).sort(), [...keep].sort());
  spool.remove(paths, keep);
});

test('rows staged part by part are inserted together on commit; a dropped batch leaves nothing', async () => {
  const row = (i: number) =>
    rowValuesOf({
      event: notificationEvent(
        `staged-${String(i).padStart(4, '0')}`,
        'staged-session',
        Date.UTC(2026, 10, 21) + i,
      ),
      auditSeq: i + 1,
    });
  const kept = io.newBatch();
  const dropped = io.newBatch();
  io.stage(kept, [row(0), row(1)]);
  io.stage(dropped, [row(10)]);
  io.stage(kept, [row(2)]);
  io.drop(dropped);
  assert.deepEqual(await io.commit(kept), { inserted: 3, duplicates: 0 });
  const again = io.newBatch();
  io.stage(again, [row(2), row(3)]);
  assert.deepEqual(await io.commit(again), { inserted: 1, duplicates: 1 });
  const store = Store.open(paths.storeFile, { readonly: true });
  try {
    assert.deepEqual(
      store.timeline('staged-session').map((e) => e.id),
      ['staged-0000', 'staged-0001', 'staged-0002', 'staged-0003'],
    );
  } finally {
    store.close();
  }
});

test('the worker thread is used only when more than one CPU is available', () => {
  assert.equal(useWorkerThread(1), false);
  assert.equal(useWorkerThread(2), true);
  assert.equal(useWorkerThread(64), true);
  assert.equal(io.threaded, true);
});

test('without the worker, reads, staged rows and removals are done on the calling thread', async () => {
  const own = tempPaths('collector-io-local');
  installHook(own);
  const store = Store.open(own.storeFile);
  const said: string[] = [];
  const local = new CollectorIO(own, (m) => said.push(m), store, false);
  try {
    assert.equal(local.threaded, false);
    assert.match(said.join('\n'), /on the collector thread, without a worker \(CPUs available: \d+\)/);
    writeSpoolFiles(own, 5);
    const names = spool.listReady(own);
    const res = await local.read(names, 1 << 20);
    assert.equal(res.records.length, 5);
    const b = local.newBatch();
    local.stage(
      b,
      res.records.map((_, i) =>
        rowValuesOf({
          event: notificationEvent(`local-${i}`, 'local-session', Date.UTC(2026, 10, 21) + i),
          auditSeq: i + 1,
        }),
      ),
    );
    assert.deepEqual(await local.commit(b), { inserted: 5, duplicates: 0 });
    local.remove(names);
    await local.flush();
    assert.equal(spool.listReady(own).length, 0);
  } finally {
    await local.close();
    store.close();
  }
});
