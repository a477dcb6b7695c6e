/**
 * Crash safety of the real collector process: SIGKILL it (several times) while it ingests 20,000 events,
 * restart it, and find every event exactly once in the store and in the audit log, with `verify` OK.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { verifyAudit } from '../../src/audit/index.ts';
import { Store } from '../../src/store/index.ts';
import { cli, exited, spawnCollector, spoolCount, tempPaths, waitFor, writeSpoolFiles } from '../helpers.ts';

const paths = tempPaths('crash');
after(() => rmSync(paths.home, { recursive: true, force: true }));

const TOTAL = 20_000;

test(`SIGKILL during ingest of ${TOTAL} events: exactly ${TOTAL} stored once, verify OK`, async () => {
  writeSpoolFiles(paths, TOTAL);
  assert.equal(spoolCount(paths), TOTAL);
  let kills = 0;
  // Kill at three points of progress, each time in the middle of work.
  for (const remainingBelow of [TOTAL * 0.85, TOTAL * 0.55, TOTAL * 0.25]) {
    const child = spawnCollector(paths);
    const reached = await waitFor(() => spoolCount(paths) < remainingBelow, 60_000);
    assert.ok(reached, `collector made no progress (spool ${spoolCount(paths)})`);
    child.kill('SIGKILL');
    await exited(child);
    kills++;
  }
  assert.equal(kills, 3);
  assert.ok(spoolCount(paths) > 0, 'the kills happened before the spool was drained');
  // Restart and let it finish.
  const child = spawnCollector(paths);
  assert.ok(await waitFor(() => spoolCount(paths) === 0, 60_000), 'spool drained after restart');
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0);

  const store = Store.open(paths.storeFile);
  try {
    const stats = store.stats();
    assert.equal(stats.events, TOTAL);
    const ids = new Set(store.query({ limit: TOTAL + 10 }).map((e) => e.id));
    assert.equal(ids.size, TOTAL);
  } finally {
    store.close();
  }
  const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
  assert.equal(v.ok, true, JSON.stringify(v.firstError));
  assert.equal(v.entries, TOTAL, 'no event appended twice to the audit log');
  const r = cli(paths, ['verify', '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
