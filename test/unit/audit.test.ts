import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AuditIntegrityError,
  AuditLog,
  type AuditLogOptions,
  CHECKPOINT_FILE,
  canonicalJson,
  computeEntryHash,
  GENESIS_HASH,
  loadOrCreateKeyPair,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  parseCheckpointBody,
  readEntries,
  verifyAudit,
} from '../../src/audit/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A fresh data dir; returns the audit dir (keys/ is its sibling, as in the data dir layout). */
function freshDir(): string {
  const home = mkdtempSync(join(tmpdir(), 'cat-audit-'));
  roots.push(home);
  return join(home, 'audit');
}

function makeEvent(i: number): TelemetryEvent {
  return {
    id: `evt-${i}`,
    timestamp: new Date(Date.UTC(2026, 10, 21, 10, 0, 0) + i * 1000).toISOString(),
    level: 'INFO',
    event_type: i % 2 === 0 ? 'command_execution' : 'file_read',
    hook_event: 'PreToolUse',
    session_id: `s-${i % 3}`,
    project_path: '/home/dev/project',
    project_name: 'project',
    tool_name: i % 2 === 0 ? 'Bash' : 'Read',
    action_details: i % 2 === 0 ? { command: `echo ${i}` } : { file_path: `/home/dev/project/f${i}.ts` },
    metadata: { telemetry_version: '0.1.0', user_id: 'dev', host: 'box', scope: 'project' },
    raw_input: { hook_event_name: 'PreToolUse', n: i },
  };
}

function events(from: number, count: number): TelemetryEvent[] {
  return Array.from({ length: count }, (_, k) => makeEvent(from + k));
}

/** A clock that returns the given ISO times in turn (the last one repeats). */
function clock(...isos: string[]): () => Date {
  let i = 0;
  return () => new Date(isos[Math.min(i++, isos.length - 1)] as string);
}

function writeLog(dir: string, batches: number[], opts: AuditLogOptions = {}): AuditLog {
  const log = AuditLog.open(dir, { host: 'test-host', ...opts });
  let n = 0;
  for (const b of batches) {
    log.append(events(n, b));
    n += b;
  }
  return log;
}

function dayFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(f))
    .sort();
}

function readLinesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

function writeLinesOf(file: string, lines: string[]): void {
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
}

describe('AuditLog', () => {
  test('entries follow the documented format and chain from genesis', async () => {
    const dir = freshDir();
    const log = writeLog(dir, [3], { now: clock('2026-11-21T10:00:00.000Z') });
    log.close();
    const [file] = dayFiles(dir);
    assert.equal(file, '2026-11-21.jsonl');
    const lines = readLinesOf(join(dir, file as string));
    assert.equal(lines.length, 3);
    let prev = GENESIS_HASH;
    lines.forEach((line, i) => {
      const e = JSON.parse(line);
      assert.deepEqual(Object.keys(e), ['event', 'hash', 'prev', 'seq', 'ts', 'v']);
      assert.equal(e.v, 1);
      assert.equal(e.seq, i + 1);
      assert.equal(e.prev, prev);
      assert.equal(e.ts, '2026-11-21T10:00:00.000Z');
      assert.equal(line, canonicalJson(e), 'each line is the canonical JSON of the entry');
      const { hash, ...rest } = e;
      assert.equal(hash, computeEntryHash(rest));
      prev = hash;
    });
    const got = [];
    for await (const e of readEntries(dir)) got.push(e.event.id);
    assert.deepEqual(got, ['evt-0', 'evt-1', 'evt-2']);
  });

  test('append returns the entries written; head and size follow', () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    assert.deepEqual(log.head, { seq: 0, hash: GENESIS_HASH });
    assert.deepEqual(log.append([]), []);
    const entries = log.append(events(0, 5));
    assert.deepEqual(
      entries.map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    assert.equal(entries[1]?.prev, entries[0]?.hash);
    assert.equal(log.size, 5);
    assert.equal(log.head.hash, entries[4]?.hash);
    log.close();
  });

  test('an event that is not JSON-clean fails the whole batch and writes nothing', () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    log.append(events(0, 2));
    const bad = { ...makeEvent(3), duration_ms: Number.NaN };
    assert.throws(() => log.append([makeEvent(2), bad]), /evt-3 cannot be audited/);
    assert.equal(log.size, 2);
    log.append(events(2, 1));
    log.close();
    assert.equal(readLinesOf(join(dir, dayFiles(dir)[0] as string)).length, 3);
  });

  test('a batch built in parts writes the same lines as one append of all its events', async () => {
    const one = freshDir();
    const parts = freshDir();
    const at = '2026-11-21T10:00:00.000Z';
    const whole = AuditLog.open(one, { now: clock(at) });
    whole.append(events(0, 2));
    whole.append(events(2, 7));
    whole.close();
    const log = AuditLog.open(parts, { now: clock(at) });
    log.append(events(0, 2));
    const batch = log.batch();
    const got = [...batch.add(events(2, 3)), ...batch.add([]), ...batch.add(events(5, 4))];
    assert.deepEqual(
      got.map((e) => e.seq),
      [3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(log.size, 2, 'the head moves on write()');
    assert.equal(
      readLinesOf(join(parts, dayFiles(parts)[0] as string)).length,
      9,
      'parts are appended as added',
    );
    batch.write();
    assert.equal(log.size, 9);
    assert.equal(log.head.hash, got[6]?.hash);
    log.close();
    assert.equal(
      readFileSync(join(parts, dayFiles(parts)[0] as string), 'utf8'),
      readFileSync(join(one, dayFiles(one)[0] as string), 'utf8'),
    );
    assert.equal((await verifyAudit(parts)).ok, true);
  });

  test('a part with an event that is not JSON-clean leaves the batch as it was', () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    const batch = log.batch();
    batch.add(events(0, 2));
    assert.throws(() => batch.add([makeEvent(2), { ...makeEvent(3), duration_ms: Number.NaN }]), /evt-3/);
    const next = batch.add(events(2, 1));
    assert.equal(next[0]?.seq, 3, 'the failed part took no sequence numbers');
    batch.write();
    assert.equal(log.size, 3);
    assert.throws(() => batch.write(), /already written/);
    log.close();
    assert.equal(readLinesOf(join(dir, dayFiles(dir)[0] as string)).length, 3);
  });

  test('a dropped batch cuts off what it appended; no other batch or append starts while one is open', async () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    log.append(events(0, 2));
    const file = join(dir, dayFiles(dir)[0] as string);
    const before = readFileSync(file, 'utf8');
    const dropped = log.batch();
    dropped.add(events(2, 4));
    assert.equal(readLinesOf(file).length, 6);
    assert.throws(() => log.append(events(10, 1)), /another audit batch is open/);
    assert.throws(() => log.batch(), /another audit batch is open/);
    dropped.drop();
    assert.equal(readFileSync(file, 'utf8'), before, 'the file is as it was');
    assert.throws(() => dropped.add(events(2, 1)), /already dropped/);
    assert.equal(log.size, 2);
    const next = log.append(events(2, 3));
    assert.deepEqual(
      next.map((e) => e.seq),
      [3, 4, 5],
    );
    log.close();
    assert.equal((await verifyAudit(dir)).ok, true);
  });

  test('a crash before a batch is synced leaves complete entries that reopening keeps', async () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    log.append(events(0, 2));
    log.batch().add(events(2, 3));
    // No write(), no drop(): the process is gone; the next writer opens the file as it was left.
    log.close();
    const again = AuditLog.open(dir);
    assert.equal(again.size, 5);
    assert.equal(again.append(events(5, 1))[0]?.seq, 6);
    again.close();
    assert.equal((await verifyAudit(dir)).ok, true);
  });

  test('creates keys on first use with private modes; directories are 0700', () => {
    const dir = freshDir();
    const log = AuditLog.open(dir);
    log.close();
    const keys = join(dir, '..', 'keys');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(keys).mode & 0o777, 0o700);
    assert.equal(statSync(join(keys, PRIVATE_KEY_FILE)).mode & 0o777, 0o600);
    assert.match(readFileSync(join(keys, PRIVATE_KEY_FILE), 'utf8'), /BEGIN PRIVATE KEY/);
    assert.match(readFileSync(join(keys, PUBLIC_KEY_FILE), 'utf8'), /BEGIN PUBLIC KEY/);
    const again = loadOrCreateKeyPair(keys);
    assert.equal(again.created, false);
    assert.equal(again.keyId, log.keyId);
    assert.equal(again.fingerprint.length, 64);
  });

  test('refuses to sign when the public key file does not match the private key', () => {
    const dir = freshDir();
    AuditLog.open(dir).close();
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(join(dir, '..', 'keys', PUBLIC_KEY_FILE), other);
    assert.throws(() => AuditLog.open(dir), /does not match/);
  });

  test('3 appends x 1000 entries, reopen continues seq and the chain', async () => {
    const dir = freshDir();
    const log = writeLog(dir, [1000, 1000, 1000]);
    const head = log.head;
    log.close();
    const again = AuditLog.open(dir);
    assert.deepEqual(again.recovered, []);
    assert.deepEqual(again.head, head);
    const [e] = again.append(events(3000, 1));
    assert.equal(e?.seq, 3001);
    assert.equal(e?.prev, head.hash);
    again.close();
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.entries, 3001);
  });

  test('checkpoints every N entries and on demand, signed, chained by prev_cp', async () => {
    const dir = freshDir();
    const log = writeLog(dir, [400, 400, 400, 100], { checkpointEvery: 1000 });
    assert.equal(log.lastCheckpoint?.size, 1200, 'automatic checkpoint after the batch that crossed 1000');
    const cp = log.checkpoint();
    assert.equal(cp?.size, 1300);
    assert.equal(log.checkpoint(), cp, 'nothing new: no new checkpoint');
    log.close();
    const lines = readLinesOf(join(dir, CHECKPOINT_FILE)).map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    const b0 = parseCheckpointBody(lines[0].body);
    const b1 = parseCheckpointBody(lines[1].body);
    assert.equal(b0?.origin, 'claude-agent-telemetry/test-host');
    assert.equal(b0?.size, 1200);
    assert.equal(b0?.prevCp, '-');
    assert.notEqual(b1?.prevCp, '-');
    assert.equal(b0?.headB64, Buffer.from(lines[0].head, 'hex').toString('base64'));
    assert.deepEqual(Object.keys(lines[0]).sort(), ['body', 'head', 'key_id', 'sig', 'size', 'ts']);
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.checkpoints, 2);
    assert.equal(r.lastCheckpointSize, 1300);
    assert.equal(r.unanchoredTail, 0);
  });

  test('checkpoint() on an empty log returns null', () => {
    const log = AuditLog.open(freshDir());
    assert.equal(log.checkpoint(), null);
    log.close();
  });

  test('torn last line is truncated at open and reported; appends continue cleanly', async () => {
    const dir = freshDir();
    const log = writeLog(dir, [10], { now: clock('2026-11-21T10:00:00.000Z') });
    log.close();
    const file = join(dir, '2026-11-21.jsonl');
    const full = readFileSync(file, 'utf8');
    appendFileSync(file, '{"event":{"id":"half-writ');
    const before = await verifyAudit(dir);
    assert.equal(before.ok, true, 'a torn tail is a crash artifact, not tampering');
    assert.deepEqual(before.torn, ['2026-11-21.jsonl']);
    const again = AuditLog.open(dir, { now: clock('2026-11-21T11:00:00.000Z') });
    assert.deepEqual(again.recovered, [{ file: '2026-11-21.jsonl', bytes: 25 }]);
    assert.equal(readFileSync(file, 'utf8'), full);
    assert.equal(again.size, 10);
    again.append(events(10, 2));
    again.close();
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.entries, 12);
    assert.deepEqual(r.torn, []);
  });

  test('a file that holds only a torn line is emptied and the chain resumes from the previous file', () => {
    const dir = freshDir();
    const log = writeLog(dir, [4], { now: clock('2026-11-21T23:59:59.000Z') });
    const head = log.head;
    log.close();
    writeFileSync(join(dir, '2026-11-22.jsonl'), '{"event":');
    const again = AuditLog.open(dir, { now: clock('2026-11-22T00:00:05.000Z') });
    assert.deepEqual(again.recovered, [{ file: '2026-11-22.jsonl', bytes: 9 }]);
    assert.deepEqual(again.head, head);
    const [e] = again.append(events(4, 1));
    assert.equal(e?.prev, head.hash);
    again.close();
    assert.equal(readLinesOf(join(dir, '2026-11-22.jsonl')).length, 1);
  });

  test('a corrupt last entry stops open (never append after garbage)', () => {
    const dir = freshDir();
    writeLog(dir, [3], { now: clock('2026-11-21T10:00:00.000Z') }).close();
    appendFileSync(join(dir, '2026-11-21.jsonl'), 'garbage\n');
    assert.throws(() => AuditLog.open(dir), AuditIntegrityError);
  });

  test('day rollover: the first entry of the new file chains to the last of the previous', async () => {
    const dir = freshDir();
    const log = AuditLog.open(dir, {
      now: clock('2026-11-21T23:59:59.900Z', '2026-11-22T00:00:00.100Z', '2026-11-21T23:59:00.000Z'),
    });
    const a = log.append(events(0, 3));
    const b = log.append(events(3, 2));
    const c = log.append(events(5, 1)); // clock stepped back: stays in the newest file
    log.close();
    assert.deepEqual(dayFiles(dir), ['2026-11-21.jsonl', '2026-11-22.jsonl']);
    assert.equal(readLinesOf(join(dir, '2026-11-22.jsonl')).length, 3);
    assert.equal(b[0]?.prev, a[2]?.hash);
    assert.equal(c[0]?.seq, 6);
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.entries, 6);
    assert.deepEqual(r.files, ['2026-11-21.jsonl', '2026-11-22.jsonl']);
    const from4 = [];
    for await (const e of readEntries(dir, 4)) from4.push(e.seq);
    assert.deepEqual(from4, [4, 5, 6]);
    const from2 = [];
    for await (const e of readEntries(dir, 2)) from2.push(e.seq);
    assert.deepEqual(from2, [2, 3, 4, 5, 6]);
  });

  test('readFrom(maxAuditSeq + 1) yields exactly the entries a crashed store is missing', async () => {
    const dir = freshDir();
    const log = writeLog(dir, [50, 50]);
    const seqs = [];
    for await (const e of log.readFrom(71)) seqs.push(e.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: 30 }, (_, i) => 71 + i),
    );
    const none = [];
    for await (const e of log.readFrom(101)) none.push(e);
    assert.equal(none.length, 0);
    log.close();
  });

  test('a second writer changing the file is detected', () => {
    const dir = freshDir();
    const log = writeLog(dir, [2], { now: clock('2026-11-21T10:00:00.000Z') });
    appendFileSync(join(dir, '2026-11-21.jsonl'), `${readLinesOf(join(dir, '2026-11-21.jsonl'))[1]}\n`);
    assert.throws(() => log.append(events(2, 1)), /another writer/);
    assert.throws(() => log.append(events(2, 1)), /unusable/);
    log.close();
  });

  test('open refuses a log shorter than its last checkpoint', () => {
    const dir = freshDir();
    const log = writeLog(dir, [5], { now: clock('2026-11-21T10:00:00.000Z') });
    log.checkpoint();
    log.close();
    const file = join(dir, '2026-11-21.jsonl');
    writeLinesOf(file, readLinesOf(file).slice(0, 3));
    assert.throws(() => AuditLog.open(dir), /truncated/);
  });

  test('open refuses a log whose last entry is not the one the last checkpoint signed', () => {
    const dir = freshDir();
    const log = writeLog(dir, [5], { now: clock('2026-11-21T10:00:00.000Z') });
    log.checkpoint();
    log.close();
    const file = join(dir, '2026-11-21.jsonl');
    const lines = readLinesOf(file);
    const e = JSON.parse(lines[4] as string);
    e.event.raw_input.n = 99;
    const { hash: _old, ...rest } = e;
    e.hash = computeEntryHash(rest);
    lines[4] = canonicalJson(e);
    writeLinesOf(file, lines);
    assert.throws(() => AuditLog.open(dir), /not the one the last checkpoint signed/);
  });
});

describe('verifyAudit', () => {
  /** 25 entries over two day files, checkpoints at 10 and 20, unanchored tail of 5. */
  function sample(): { dir: string; files: string[] } {
    const dir = freshDir();
    const log = AuditLog.open(dir, {
      checkpointEvery: 10,
      // append, its checkpoint, append, append (+ checkpoint)
      now: clock(
        '2026-11-21T10:00:00.000Z',
        '2026-11-21T10:00:00.000Z',
        '2026-11-21T11:00:00.000Z',
        '2026-11-22T09:00:00.000Z',
      ),
    });
    log.append(events(0, 10)); // seq 1..10 in 21, checkpoint 10
    log.append(events(10, 5)); // seq 11..15 in 21
    log.append(events(15, 10)); // seq 16..25 in 22, checkpoint 25
    log.close();
    return { dir, files: dayFiles(dir) };
  }

  function sampleWithTail(): { dir: string; files: string[] } {
    const s = sample();
    const log = AuditLog.open(s.dir, { checkpointEvery: 10, now: clock('2026-11-22T10:00:00.000Z') });
    log.append(events(25, 5)); // 26..30 unanchored
    log.close();
    return s;
  }

  test('clean log verifies', async () => {
    const { dir } = sampleWithTail();
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.entries, 30);
    assert.equal(r.checkpoints, 2);
    assert.equal(r.lastCheckpointSize, 25);
    assert.equal(r.unanchoredTail, 5);
    assert.equal(r.head.seq, 30);
    assert.equal(r.errors.length, 0);
    assert.equal(r.firstError, undefined);
  });

  test('empty audit dir verifies with zero entries', async () => {
    const dir = freshDir();
    AuditLog.open(dir).close();
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true);
    assert.equal(r.entries, 0);
    assert.equal(r.head.hash, GENESIS_HASH);
  });

  test('editing one field of one entry reports that entry (seq, file, line)', async () => {
    const { dir, files } = sampleWithTail();
    const file = join(dir, files[0] as string);
    const lines = readLinesOf(file);
    lines[6] = (lines[6] as string).replace('"echo 6"', '"echo 7"');
    writeLinesOf(file, lines);
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'hash');
    assert.equal(r.firstError?.seq, 7);
    assert.equal(r.firstError?.file, files[0]);
    assert.equal(r.firstError?.line, 7);
    assert.equal(r.errors.length, 1, 'one edit, one error');
  });

  test('editing and re-chaining every later hash is caught by the checkpoint head', async () => {
    const { dir, files } = sampleWithTail();
    let prev = GENESIS_HASH;
    let edited = false;
    for (const f of files) {
      const path = join(dir, f);
      const out = readLinesOf(path).map((line) => {
        const e = JSON.parse(line);
        if (e.seq === 7) {
          e.event.action_details.file_path = '/innocent';
          edited = true;
        }
        e.prev = prev;
        const { hash: _old, ...rest } = e;
        e.hash = computeEntryHash(rest);
        prev = e.hash;
        return canonicalJson(e);
      });
      writeLinesOf(path, out);
    }
    assert.ok(edited);
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-head');
    assert.equal(r.firstError?.seq, 10, 'the first checkpoint covering the edit');
    assert.ok(!r.errors.some((e) => e.kind === 'hash' || e.kind === 'prev'));
  });

  test('deleting entries a checkpoint covers from the end is truncation', async () => {
    const { dir, files } = sampleWithTail();
    rmSync(join(dir, files[1] as string)); // seq 16..30 gone; checkpoint 25 covers them
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'truncated');
    assert.equal(r.firstError?.seq, 25);
    assert.match(r.firstError?.message ?? '', /checkpoint covers 25 entries, the log ends at 15/);
  });

  test('deleting lines inside the checkpointed region breaks seq continuity', async () => {
    const { dir, files } = sampleWithTail();
    const file = join(dir, files[0] as string);
    const lines = readLinesOf(file);
    lines.splice(3, 2); // seq 4 and 5
    writeLinesOf(file, lines);
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'seq');
    assert.equal(r.firstError?.seq, 6);
    assert.equal(r.firstError?.line, 4);
  });

  test('deleting and renumbering inside the checkpointed region is caught too', async () => {
    const { dir, files } = sampleWithTail();
    let prev = GENESIS_HASH;
    let seq = 0;
    for (const f of files) {
      const path = join(dir, f);
      const out = readLinesOf(path)
        .map((l) => JSON.parse(l))
        .filter((e) => e.seq !== 4)
        .map((e) => {
          e.seq = ++seq;
          e.prev = prev;
          const { hash: _old, ...rest } = e;
          e.hash = computeEntryHash(rest);
          prev = e.hash;
          return canonicalJson(e);
        });
      writeLinesOf(path, out);
    }
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-head');
    assert.equal(r.firstError?.seq, 10);
  });

  test('truncating only the unanchored tail is not detectable (documented limit), and is reported', async () => {
    const { dir, files } = sampleWithTail();
    const file = join(dir, files[1] as string);
    const lines = readLinesOf(file);
    writeLinesOf(file, lines.slice(0, lines.length - 3)); // drop seq 28..30
    const r = await verifyAudit(dir);
    assert.equal(r.ok, true, r.firstError?.message);
    assert.equal(r.entries, 27);
    assert.equal(r.unanchoredTail, 2);
    assert.equal(r.lastCheckpointSize, 25);
  });

  test('a head remembered elsewhere closes that gap', async () => {
    const { dir, files } = sampleWithTail();
    const before = await verifyAudit(dir);
    const file = join(dir, files[1] as string);
    const lines = readLinesOf(file);
    writeLinesOf(file, lines.slice(0, lines.length - 3));
    const r = await verifyAudit(dir, { expectHead: before.head });
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'truncated');
  });

  test('a checkpoint with a forged signature is detected', async () => {
    const { dir } = sampleWithTail();
    const path = join(dir, CHECKPOINT_FILE);
    const cps = readLinesOf(path).map((l) => JSON.parse(l));
    // Attacker without the private key moves the checkpoint to a rewritten head and signs with their own key.
    const attacker = generateKeyPairSync('ed25519');
    const cp = cps[1];
    cp.body = cp.body.replace(/^(.*\n.*\n)(.*)\n/, `$1${Buffer.alloc(32, 7).toString('base64')}\n`);
    cp.head = Buffer.alloc(32, 7).toString('hex');
    cp.sig = sign(null, Buffer.from(cp.body), attacker.privateKey).toString('base64');
    writeLinesOf(
      path,
      cps.map((c) => canonicalJson(c)),
    );
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-signature');
    assert.equal(r.firstError?.seq, 25);
    assert.equal(r.firstError?.file, CHECKPOINT_FILE);
    assert.equal(r.firstError?.line, 2);
  });

  test('a checkpoint whose fields disagree with its signed body is detected', async () => {
    const { dir } = sampleWithTail();
    const path = join(dir, CHECKPOINT_FILE);
    const cps = readLinesOf(path).map((l) => JSON.parse(l));
    cps[0].size = 5;
    writeLinesOf(
      path,
      cps.map((c) => canonicalJson(c)),
    );
    const r = await verifyAudit(dir);
    assert.equal(r.firstError?.kind, 'checkpoint-format');
  });

  test('removing a checkpoint breaks the prev_cp chain', async () => {
    const { dir } = sampleWithTail();
    const path = join(dir, CHECKPOINT_FILE);
    writeLinesOf(path, readLinesOf(path).slice(1));
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-chain');
  });

  test('checkpoints are checked against a pinned key given by the caller', async () => {
    const { dir } = sampleWithTail();
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const r = await verifyAudit(dir, { publicKeyPem: other });
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-key');
    const pinned = readFileSync(join(dir, '..', 'keys', PUBLIC_KEY_FILE), 'utf8');
    assert.equal((await verifyAudit(dir, { publicKeyPem: pinned })).ok, true);
  });

  test('without a public key checkpoints cannot be trusted: one error, nothing anchored', async () => {
    const { dir } = sampleWithTail();
    rmSync(join(dir, '..', 'keys', PUBLIC_KEY_FILE));
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.equal(r.firstError?.kind, 'checkpoint-key');
    assert.equal(r.errors.length, 1);
    assert.equal(r.lastCheckpointSize, 0);
    assert.equal(r.unanchoredTail, 30);
  });

  test('a forged checkpoint claiming more entries is reported as forged, not as truncation', async () => {
    const { dir } = sampleWithTail();
    const path = join(dir, CHECKPOINT_FILE);
    const cps = readLinesOf(path).map((l) => JSON.parse(l));
    const fake = { ...cps[1], size: 99, body: (cps[1].body as string).replace(/\n25\n/, '\n99\n') };
    writeLinesOf(
      path,
      [...cps, fake].map((c) => canonicalJson(c)),
    );
    const r = await verifyAudit(dir);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.errors.map((e) => e.kind),
      ['checkpoint-signature'],
    );
    assert.equal(r.lastCheckpointSize, 25);
  });

  test('unparsable and malformed lines are reported with their location', async () => {
    const { dir, files } = sampleWithTail();
    const file = join(dir, files[0] as string);
    const lines = readLinesOf(file);
    lines[2] = '{not json';
    writeLinesOf(file, lines);
    const r = await verifyAudit(dir);
    assert.equal(r.firstError?.kind, 'parse');
    assert.equal(r.firstError?.line, 3);
    assert.equal(r.errors.length, 1, 'the chain resynchronises after a bad line');

    const { dir: dir2, files: files2 } = sampleWithTail();
    const file2 = join(dir2, files2[0] as string);
    const lines2 = readLinesOf(file2);
    const e = JSON.parse(lines2[0] as string);
    e.extra = 1;
    lines2[0] = JSON.stringify(e);
    writeLinesOf(file2, lines2);
    const r2 = await verifyAudit(dir2);
    assert.equal(r2.firstError?.kind, 'format');
    assert.equal(r2.firstError?.line, 1);
  });

  test('swapping two entries is detected', async () => {
    const { dir, files } = sampleWithTail();
    const file = join(dir, files[0] as string);
    const lines = readLinesOf(file);
    [lines[3], lines[4]] = [lines[4] as string, lines[3] as string];
    writeLinesOf(file, lines);
    const r = await verifyAudit(dir);
    assert.equal(r.firstError?.kind, 'seq');
    assert.equal(r.firstError?.line, 4);
  });

  test('a deleted day file in the middle breaks the cross-file chain', async () => {
    const dir = freshDir();
    const log = AuditLog.open(dir, {
      now: clock('2026-11-20T10:00:00.000Z', '2026-11-21T10:00:00.000Z', '2026-11-22T10:00:00.000Z'),
    });
    log.append(events(0, 2));
    log.append(events(2, 2));
    log.append(events(4, 2));
    log.close();
    rmSync(join(dir, '2026-11-21.jsonl'));
    const r = await verifyAudit(dir);
    assert.equal(r.firstError?.kind, 'seq');
    assert.equal(r.firstError?.file, '2026-11-22.jsonl');
  });

  test('property: any single-byte change to a fully checkpointed log is detected', async () => {
    const dir = freshDir();
    const log = AuditLog.open(dir, { checkpointEvery: 4, now: clock('2026-11-21T10:00:00.000Z') });
    for (let i = 0; i < 3; i++) log.append(events(i * 3, 3));
    log.checkpoint();
    log.close();
    const file = join(dir, '2026-11-21.jsonl');
    const original = readFileSync(file);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: original.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (pos, x) => {
          const copy = Buffer.from(original);
          copy[pos] = (copy[pos] as number) ^ x;
          writeFileSync(file, copy);
          const r = await verifyAudit(dir);
          assert.equal(r.ok, false, `byte ${pos} ^ ${x} went unnoticed`);
        },
      ),
      { numRuns: 150 },
    );
    writeFileSync(file, original);
    assert.equal((await verifyAudit(dir)).ok, true);
  });
});
