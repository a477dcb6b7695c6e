/**
 * Faults inside a batch (disk full while appending, a store that fails after the audit append): the
 * collector retries, and every event ends up exactly once in the audit log and in the store.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { AuditLog, verifyAudit } from '../../src/audit/index.ts';
import { Collector } from '../../src/collector/collector.ts';
import { CollectorIO } from '../../src/collector/io.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { Store } from '../../src/store/index.ts';
import { spoolCount, tempPaths, waitFor, writeSpoolFiles } from '../helpers.ts';

const homes: DataPaths[] = [];
after(() => {
  for (const p of homes) rmSync(p.home, { recursive: true, force: true });
});

async function check(paths: DataPaths, n: number) {
  const store = Store.open(paths.storeFile);
  try {
    assert.equal(store.stats().events, n);
  } finally {
    store.close();
  }
  const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
  assert.equal(v.ok, true, JSON.stringify(v.firstError));
  assert.equal(v.entries, n);
}

test('disk full during the audit append: the batch is retried, nothing lost or doubled', async () => {
  const paths = tempPaths('enospc');
  homes.push(paths);
  writeSpoolFiles(paths, 300);
  const c = await Collector.open(paths, {
    ...DEFAULT_CONFIG,
    ingest: { ...DEFAULT_CONFIG.ingest, batchSize: 100 },
  });
  // The first two audit writes fail as a full disk would. Every part of every batch reaches the disk
  // through writeText; the log is reopened in between, so patch the class.
  const proto = AuditLog.prototype as unknown as { writeText: (...args: unknown[]) => number };
  const real = proto.writeText;
  let failures = 0;
  proto.writeText = function (this: AuditLog, ...args: unknown[]) {
    if (failures < 2) {
      failures++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return real.apply(this, args);
  };
  after(() => {
    proto.writeText = real;
  });
  c.start();
  assert.ok(await waitFor(() => spoolCount(paths) === 0, 20_000), 'spool drained after the faults');
  await c.stop();
  assert.equal(failures, 2);
  await check(paths, 300);
});

test('store fails after the audit append: recovery fills the store, the retry appends nothing twice', async () => {
  const paths = tempPaths('storefail');
  homes.push(paths);
  writeSpoolFiles(paths, 250);
  const c = await Collector.open(paths, {
    ...DEFAULT_CONFIG,
    ingest: { ...DEFAULT_CONFIG.ingest, batchSize: 100 },
  });
  // The first insert fails, whichever thread does it: the I/O worker (the usual path) or this one.
  const real = c.store.insertBatch.bind(c.store);
  const realViaWorker = CollectorIO.prototype.commit;
  let failures = 0;
  const fail = () => {
    failures++;
    return new Error('SQLITE_FULL: database or disk is full');
  };
  c.store.insertBatch = (rows) => {
    if (failures < 1) throw fail();
    return real(rows);
  };
  CollectorIO.prototype.commit = function (batch) {
    if (failures < 1) {
      this.drop(batch);
      return Promise.reject(fail());
    }
    return realViaWorker.call(this, batch);
  };
  try {
    c.start();
    assert.ok(await waitFor(() => spoolCount(paths) === 0, 20_000), 'spool drained after the fault');
    await c.stop();
  } finally {
    CollectorIO.prototype.commit = realViaWorker;
  }
  assert.equal(failures, 1);
  await check(paths, 250);
});
