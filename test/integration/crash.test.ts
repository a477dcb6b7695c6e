/**
 * Crash safety of the real collector process: SIGKILL it every two seconds while it ingests 100,000 events,
 * restart it each time, and find every event exactly once in the store and in the audit log, with `verify` OK.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { verifyAudit } from '../../src/audit/index.ts';
import { readStatusFile } from '../../src/collector/control.ts';
import { Store } from '../../src/store/index.ts';
import {
  cli,
  exited,
  sleep,
  spawnCollector,
  spoolCount,
  tempPaths,
  waitFor,
  writeSpoolFiles,
} from '../helpers.ts';

const paths = tempPaths('crash');
after(() => rmSync(paths.home, { recursive: true, force: true }));

const TOTAL = 100_000;
const KILL_EVERY_MS = 2_000;

test(`SIGKILL every ${KILL_EVERY_MS / 1000} s during ingest of ${TOTAL} events: exactly ${TOTAL} stored once, verify OK`, {
  timeout: 300_000,
}, async () => {
  writeSpoolFiles(paths, TOTAL);
  assert.equal(spoolCount(paths), TOTAL);
  let kills = 0;
  let before = spoolCount(paths);
  // Kill, restart, kill... while work remains. Each run is killed a moment after it starts making progress
  // (start-up time varies with the machine's load), at a varying point inside its batches.
  while (spoolCount(paths) > 0 && kills < 60) {
    const child = spawnCollector(paths);
    const progressed = await waitFor(() => spoolCount(paths) < before, 30_000);
    assert.ok(progressed, `a collector run made no progress (spool ${spoolCount(paths)})`);
    await sleep(KILL_EVERY_MS * (0.25 + ((kills * 37) % 50) / 100));
    child.kill('SIGKILL');
    await exited(child);
    kills++;
    before = spoolCount(paths);
  }
  assert.ok(kills >= 3, `only ${kills} kills: the run was too short to test crashes`);
  // Restart and let it finish; stop it only once it runs (a signal during start-up is not a graceful stop).
  const child = spawnCollector(paths);
  assert.ok(await waitFor(() => spoolCount(paths) === 0, 60_000), 'spool drained after restart');
  const running = () => readStatusFile(paths)?.pid === child.pid;
  assert.ok(await waitFor(running, 30_000), 'the last collector reported itself running');
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
