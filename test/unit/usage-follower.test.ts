/**
 * The collector's transcript follower: which sessions it follows is learnt from the new rows of the events
 * table (session and time only), each session's transcript path from one of its events.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { startUsageFollower } from '../../src/usage/tailer.ts';
import { notificationEvent, REPO } from '../helpers.ts';

const MAIN = '2a8611e7-0806-4a69-93cf-1ec49e3ad0ca';
const OTHER = 'b3bd75fd-0b07-45e5-bd2a-93c4d6621227';

let n = 0;
function event(session: string, transcript?: string): TelemetryEvent {
  n++;
  const e = notificationEvent(`evt-${String(n).padStart(6, '0')}`, session, Date.now() - 60_000 + n);
  return transcript !== undefined ? { ...e, transcript_path: transcript } : e;
}

const usageSessions = (store: Store) =>
  (
    store.select('SELECT DISTINCT session_id FROM usage ORDER BY session_id').all() as {
      session_id: string;
    }[]
  ).map((r) => r.session_id);

test('follows the transcripts of sessions stored after it started, also when their first events lack one', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ct-follower-'));
  const projects = join(home, 'projects');
  cpSync(join(REPO, 'test', 'fixtures', 'transcripts', 'projects'), projects, { recursive: true });
  const dir = join(projects, '-home-dev-project');
  const store = Store.open(join(home, 'store.db'));
  const follower = startUsageFollower({ store, log: () => {}, intervalMs: 3_600_000 });
  try {
    await follower.tick();
    assert.deepEqual(usageSessions(store), [], 'nothing stored yet, nothing followed');

    // Many events of one session, none naming its transcript yet; another session's events do.
    const rows = [];
    for (let i = 0; i < 12_000; i++) rows.push({ event: event(MAIN), auditSeq: Number.NaN });
    rows.push({ event: event(OTHER, join(dir, `${OTHER}.jsonl`)), auditSeq: Number.NaN });
    store.insertBatch(rows);
    await follower.tick();
    assert.deepEqual(usageSessions(store), [OTHER]);

    // A later event of the first session brings its transcript: followed from then on.
    store.insertBatch([{ event: event(MAIN, join(dir, `${MAIN}.jsonl`)), auditSeq: Number.NaN }]);
    await follower.tick();
    assert.deepEqual(usageSessions(store), [MAIN, OTHER].sort());
  } finally {
    await follower.stop();
    store.close();
  }
});

test('at start-up, follows the sessions active in the last day', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ct-follower-'));
  const projects = join(home, 'projects');
  cpSync(join(REPO, 'test', 'fixtures', 'transcripts', 'projects'), projects, { recursive: true });
  const store = Store.open(join(home, 'store.db'));
  store.insertBatch([
    { event: event(MAIN, join(projects, '-home-dev-project', `${MAIN}.jsonl`)), auditSeq: Number.NaN },
  ]);
  const follower = startUsageFollower({ store, log: () => {}, intervalMs: 3_600_000 });
  try {
    await follower.tick();
    assert.deepEqual(usageSessions(store), [MAIN]);
  } finally {
    await follower.stop();
    store.close();
  }
});
