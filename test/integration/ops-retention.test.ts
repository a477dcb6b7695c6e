/**
 * Retention: audit day files are archived whole (signed, compressed) and verify still checks everything;
 * old store rows go while session summaries stay; quarantine and logs are pruned; dry runs change nothing.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ARCHIVE_MANIFEST, archiveDir } from '../../src/audit/archive.ts';
import { AuditLog, listDayFiles, verifyAudit } from '../../src/audit/index.ts';
import type { Config } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { runCleanup, startDailyCleanup } from '../../src/ops/retention.ts';
import { DEFAULT_RETENTION, type RetentionConfig } from '../../src/ops/retention-config.ts';
import type { SinkConfig } from '../../src/sinks/config.ts';
import { Store } from '../../src/store/index.ts';
import { cli, waitFor } from '../helpers.ts';
import { cleanupHomes, DAY_MS, opsHome, seedDays, syntheticEvents } from '../ops-helpers.ts';

after(cleanupHomes);

function retention(over: Partial<RetentionConfig>): Pick<Config, 'retention' | 'sinks'> {
  return { retention: { ...structuredClone(DEFAULT_RETENTION), ...over }, sinks: [] };
}

const keep = { maxAgeDays: null, maxSizeMb: null };

function listing(paths: DataPaths): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory()
        ? walk(join(dir, d.name))
        : [`${join(dir, d.name)}:${statSync(join(dir, d.name)).size}`],
    );
  return walk(paths.home)
    .filter((f) => !f.includes('/run/'))
    .sort();
}

describe('audit retention: archive whole signed day files', () => {
  test('old day files move into signed archives; verify checks archived and kept entries; the log carries on', async () => {
    const paths = opsHome('ret-audit');
    await seedDays(paths, { perDay: 300, days: 6 });
    const before = listDayFiles(paths.audit);
    assert.equal(before.length, 6);
    const cfg = retention({ audit: { maxAgeDays: 2, maxSizeMb: null } });

    const before2 = listing(paths);
    const dry = await runCleanup(paths, cfg, { dryRun: true });
    assert.deepEqual(listing(paths), before2, 'a dry run changes nothing');
    assert.equal(dry.actions[0]?.count, 3);

    const rep = await runCleanup(paths, cfg);
    assert.equal(rep.actions.length, 1, JSON.stringify(rep));
    assert.equal(rep.actions[0]?.count, 3);
    assert.deepEqual(listDayFiles(paths.audit), before.slice(3));
    assert.deepEqual(readdirSync(archiveDir(paths.audit)).sort(), [
      ...before.slice(0, 3).map((f) => `${f}.gz`),
      ARCHIVE_MANIFEST,
    ]);
    assert.deepEqual(
      gunzipSync(readFileSync(join(archiveDir(paths.audit), `${before[0]}.gz`))).length > 0,
      true,
    );

    const full = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(full.ok, true, JSON.stringify(full.firstError));
    assert.equal(full.entries, 1800);
    assert.deepEqual(full.archived, { segments: 3, entries: 900, checked: true });
    const quick = await verifyAudit(paths.audit, { keysDir: paths.keys, archives: 'records' });
    assert.equal(quick.ok, true, JSON.stringify(quick.firstError));
    assert.equal(quick.entries, 900);
    assert.equal(quick.head.seq, 1800);
    assert.equal(cli(paths, ['verify']).status, 0);

    // The writer carries on from the kept tail; a second run has nothing more to archive.
    const log = AuditLog.open(paths.audit, { keysDir: paths.keys, checkpointEvery: 0 });
    log.append(syntheticEvents(10, Date.now(), 'after'));
    log.checkpoint();
    log.close();
    assert.equal((await runCleanup(paths, cfg)).actions.length, 0);
    const again = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(again.ok, true, JSON.stringify(again.firstError));
    assert.equal(again.head.seq, 1810);
  });

  test('tampering with an archive or its records is named by verify', async () => {
    const paths = opsHome('ret-tamper');
    await seedDays(paths, { perDay: 200, days: 4 });
    await runCleanup(paths, retention({ audit: { maxAgeDays: 1, maxSizeMb: null } }));
    const dir = archiveDir(paths.audit);
    const gzName = readdirSync(dir)
      .filter((n) => n.endsWith('.gz'))
      .sort()[1] as string;
    const gzPath = join(dir, gzName);
    const original = readFileSync(gzPath);
    const lines = gunzipSync(original).toString('utf8').split('\n');
    lines[3] = (lines[3] as string).replace('"level":"INFO"', '"level":"WARN"');
    writeFileSync(gzPath, gzipSync(lines.join('\n')));
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(v.ok, false);
    assert.ok(
      v.errors.some((e) => e.file === `archive/${gzName}` && e.kind === 'hash'),
      JSON.stringify(v.errors),
    );
    writeFileSync(gzPath, original);
    assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).ok, true);

    // A removed first record breaks the record chain and the seq ranges from 1.
    const manifest = join(dir, ARCHIVE_MANIFEST);
    const records = readFileSync(manifest, 'utf8').trimEnd().split('\n');
    writeFileSync(manifest, `${records.slice(1).join('\n')}\n`);
    const q = await verifyAudit(paths.audit, { keysDir: paths.keys, archives: 'records' });
    assert.equal(q.ok, false);
    assert.match(q.firstError?.message ?? '', /archive record for .*(prev_record|segment is missing)/);
  });

  test('a crash between the archive record and the removal: verify skips the copy, the next run removes it', async () => {
    const paths = opsHome('ret-crash');
    await seedDays(paths, { perDay: 100, days: 3 });
    const first = listDayFiles(paths.audit)[0] as string;
    const saved = join(paths.home, 'saved.jsonl');
    copyFileSync(join(paths.audit, first), saved);
    const cfg = retention({ audit: { maxAgeDays: 1, maxSizeMb: null } });
    await runCleanup(paths, cfg);
    copyFileSync(saved, join(paths.audit, first));
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(v.ok, true, JSON.stringify(v.firstError));
    await runCleanup(paths, cfg);
    assert.equal(existsSync(join(paths.audit, first)), false);
  });

  test('not archived while unsigned or unsent: the report says why', async () => {
    const unsigned = opsHome('ret-unsigned');
    await seedDays(unsigned, { perDay: 100, days: 3, checkpointDaily: false });
    const r1 = await runCleanup(unsigned, retention({ audit: { maxAgeDays: 1, maxSizeMb: null } }));
    assert.equal(r1.actions.length, 0);
    assert.match(r1.notes.join('\n'), /not yet covered by a signed checkpoint/);
    assert.equal(listDayFiles(unsigned.audit).length, 3);

    const unsent = opsHome('ret-unsent');
    await seedDays(unsent, { perDay: 100, days: 3 });
    const cfg = {
      ...retention({ audit: { maxAgeDays: 1, maxSizeMb: null } }),
      sinks: [{ name: 'central' } as SinkConfig],
    };
    const r2 = await runCleanup(unsent, cfg);
    assert.equal(r2.actions.length, 0);
    assert.match(r2.notes.join('\n'), /not yet sent by every forwarding sink/);
  });

  test('by size: the oldest files are archived until the live log is under the limit', async () => {
    const paths = opsHome('ret-audit-size');
    await seedDays(paths, { perDay: 400, days: 5 });
    const sizes = listDayFiles(paths.audit).map((f) => statSync(join(paths.audit, f)).size);
    const limitMb = (sizes[3] as number) + (sizes[4] as number) + 1000;
    await runCleanup(paths, retention({ audit: { maxAgeDays: null, maxSizeMb: limitMb / (1024 * 1024) } }));
    assert.equal(listDayFiles(paths.audit).length, 2);
    assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).ok, true);
  });
});

describe('store, quarantine and log retention', () => {
  test('events past the age limit are deleted, sessions stay, the file is compacted', async () => {
    const paths = opsHome('ret-events');
    await seedDays(paths, { perDay: 2000, days: 5 });
    const s0 = Store.open(paths.storeFile);
    const sessions = s0.stats().sessions;
    s0.close();
    const rep = await runCleanup(paths, retention({ events: { maxAgeDays: 2, maxSizeMb: null } }));
    const store = Store.open(paths.storeFile);
    try {
      assert.equal(store.stats().events, 4000, 'two days of events are left');
      assert.equal(store.countExport({}), 4000);
      assert.equal(store.stats().sessions, sessions, 'session summaries are kept');
      assert.equal(store.sessions({ limit: 10_000 }).length, sessions);
      assert.ok(
        rep.actions.some((a) => /compacted the store \(VACUUM/.test(a.action) && a.bytes > 0),
        JSON.stringify(rep.actions),
      );
      assert.equal(store.spaceUsage().freeBytes, 0);
    } finally {
      store.close();
    }
    // The audit log still holds everything.
    assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).entries, 10_000);
  });

  test('events over the size limit: the oldest go until the store fits', async () => {
    const paths = opsHome('ret-events-size');
    await seedDays(paths, { perDay: 3000, days: 2 });
    const s = Store.open(paths.storeFile);
    const used = s.spaceUsage().fileBytes - s.spaceUsage().freeBytes;
    s.close();
    const limitMb = used / 2 / (1024 * 1024);
    await runCleanup(paths, retention({ events: { maxAgeDays: null, maxSizeMb: limitMb } }));
    const store = Store.open(paths.storeFile);
    try {
      const u = store.spaceUsage();
      assert.ok(u.fileBytes - u.freeBytes <= limitMb * 1024 * 1024);
      const left = store.stats().events;
      assert.ok(left > 0 && left < 6000, `${left} events left`);
      const first = store.query({ limit: 1 })[0];
      assert.ok(first && first.id.startsWith('d1') === left <= 3000, 'the oldest were deleted first');
    } finally {
      store.close();
    }
  });

  test('quarantine and logs: by age, then oldest first by size; collector.log is rotated', async () => {
    const paths = opsHome('ret-files');
    const now = Date.now();
    for (let i = 0; i < 6; i++) {
      const f = join(paths.quarantine, `q${i}.project`);
      writeFileSync(f, Buffer.alloc(100_000, i));
      writeFileSync(`${f}.reason.json`, '{"reason":"malformed JSON"}\n');
      const t = (now - (i < 2 ? 40 : 5 - i) * DAY_MS) / 1000;
      utimesSync(f, t, t);
    }
    writeFileSync(paths.logFile, 'x'.repeat(700_000));
    const oldRotation = join(paths.logs, 'collector-2020-01-01T00-00-00-000Z.log.gz');
    writeFileSync(oldRotation, gzipSync('old'));
    utimesSync(oldRotation, (now - 90 * DAY_MS) / 1000, (now - 90 * DAY_MS) / 1000);

    const cfg = retention({
      events: keep,
      quarantine: { maxAgeDays: 30, maxSizeMb: 0.25 },
      logs: { maxAgeDays: 30, maxSizeMb: 1 },
    });
    const rep = await runCleanup(paths, cfg);
    const left = readdirSync(paths.quarantine).filter((n) => !n.endsWith('.reason.json'));
    // q0, q1 by age; of the four left (400 kB) the two oldest (q2, q3) by size.
    assert.deepEqual(left.sort(), ['q4.project', 'q5.project']);
    assert.equal(readdirSync(paths.quarantine).length, 4, 'reason files go with their inputs');
    assert.equal(statSync(paths.logFile).size, 0);
    const rotations = readdirSync(paths.logs).filter((n) => n.endsWith('.log.gz'));
    assert.equal(rotations.length, 1);
    assert.equal(gunzipSync(readFileSync(join(paths.logs, rotations[0] as string))).length, 700_000);
    assert.deepEqual(
      rep.actions.map((a) => a.kind),
      ['quarantine', 'quarantine', 'logs', 'logs'],
    );
  });

  test('the collector-side daily runner applies the limits with its own store connection', async () => {
    const paths = opsHome('ret-daily');
    await seedDays(paths, { perDay: 500, days: 3 });
    const store = Store.open(paths.storeFile);
    const logs: string[] = [];
    const daily = startDailyCleanup({
      paths,
      config: retention({ events: { maxAgeDays: 1, maxSizeMb: null } }),
      store,
      log: (m) => logs.push(m),
      firstAfterMs: 10,
    });
    try {
      assert.ok(await waitFor(() => logs.some((l) => /retention: deleted/.test(l)), 10_000), logs.join('\n'));
      assert.equal(store.stats().events, 500);
    } finally {
      daily.stop();
      store.close();
    }
  });

  test('CLI: cleanup --dry-run and --json; a broken retention key is named', async () => {
    const paths = opsHome('ret-cli');
    await seedDays(paths, { perDay: 200, days: 4 });
    writeFileSync(
      paths.config,
      'retention:\n  audit:\n    max_age_days: 1\n  events:\n    max_age_days: 2\n',
    );
    const dry = cli(paths, ['cleanup', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /would delete 400 events/);
    assert.match(dry.stdout, /would archive 2 audit day file/);
    assert.match(dry.stdout, /dry run: nothing changed/);
    const done = cli(paths, ['cleanup', '--json']);
    assert.equal(done.status, 0, done.stderr);
    const rep = JSON.parse(done.stdout) as { actions: { kind: string }[] };
    assert.deepEqual(
      rep.actions.map((a) => a.kind),
      ['events', 'events', 'audit'],
    );
    writeFileSync(paths.config, 'retention:\n  events:\n    max_age_days: -3\n');
    const bad = cli(paths, ['cleanup']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /retention\.events\.max_age_days/);
  });
});
