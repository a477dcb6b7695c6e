/**
 * backup / restore: a round trip keeps everything (events, audit chain, keys, settings); a damaged archive,
 * a tampered audit log inside a well-formed archive, a data dir with data and a running collector are refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { verifyAudit } from '../../src/audit/index.ts';
import { Collector } from '../../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import {
  BackupError,
  type BackupManifest,
  createBackup,
  MANIFEST_NAME,
  restoreBackup,
} from '../../src/ops/backup.ts';
import { extractTarGz, TarGzWriter } from '../../src/ops/tar.ts';
import { Store } from '../../src/store/index.ts';
import { cli, exited, spawnCollector, waitFor, writeSpoolFiles } from '../helpers.ts';
import { cleanupHomes, opsHome, seedDays } from '../ops-helpers.ts';

after(cleanupHomes);

function storeCount(paths: DataPaths): number {
  const s = Store.open(paths.storeFile, { readonly: true });
  try {
    return s.stats().events;
  } finally {
    s.close();
  }
}

async function seeded(tag: string): Promise<DataPaths> {
  const p = opsHome(tag);
  await seedDays(p, { perDay: 400, days: 3 });
  writeFileSync(p.config, '# mine\ncapture: metadata\n', { mode: 0o600 });
  writeFileSync(p.projectsFile, '{"version":1,"projects":[],"optOut":[]}\n', { mode: 0o600 });
  return p;
}

const MEMBER = /(store\/events\.db|audit\/[\w.-]+|keys\/[\w.-]+|manifest\.json|config\.yaml|projects\.json)/;

describe('backup and restore', () => {
  test('round trip into an empty data dir keeps events, the verified audit chain, keys and settings', async () => {
    const src = await seeded('bk-src');
    const archive = join(src.home, 'b.tar.gz');
    const r = await createBackup(src, archive);
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    assert.equal(r.manifest.counts.events, 1200);
    assert.equal(r.manifest.counts.audit_entries, 1200);
    assert.equal(r.manifest.counts.checkpoints, 3);
    assert.ok(r.manifest.files.some((f) => f.path === 'keys/audit-ed25519.key'));

    const dst = opsHome('bk-dst');
    const res = await restoreBackup(dst, archive);
    assert.equal(res.check.auditEntries, 1200);
    assert.equal(storeCount(dst), 1200);
    const v = await verifyAudit(dst.audit, { keysDir: dst.keys });
    assert.equal(v.ok, true, JSON.stringify(v.firstError));
    assert.equal(v.entries, 1200);
    for (const f of ['keys/audit-ed25519.key', 'keys/audit-ed25519.pub', 'config.yaml', 'projects.json']) {
      assert.deepEqual(readFileSync(join(dst.home, f)), readFileSync(join(src.home, f)), f);
    }
    assert.equal(statSync(join(dst.keys, 'audit-ed25519.key')).mode & 0o777, 0o600);
    // The restored log is one a collector carries on from.
    const c = await Collector.open(dst, DEFAULT_CONFIG);
    assert.equal(c.audit.size, 1200);
    await c.stop();
  });

  test('one flipped byte: refused with a message naming the damaged file, data dir untouched', async () => {
    const src = await seeded('bk-flip');
    const archive = join(src.home, 'b.tar.gz');
    await createBackup(src, archive);
    const bytes = readFileSync(archive);
    for (const at of [0.3, 0.7]) {
      const damaged = Buffer.from(bytes);
      const i = Math.floor(damaged.length * at);
      damaged[i] = (damaged[i] as number) ^ 0x10;
      const file = join(src.home, `flipped-${at}.tar.gz`);
      writeFileSync(file, damaged);
      const dst = opsHome('bk-flip-dst');
      await assert.rejects(restoreBackup(dst, file), (err: Error) => {
        assert.ok(err instanceof BackupError, String(err));
        assert.match(err.message, /damaged/);
        assert.match(err.message, MEMBER, `names a file: ${err.message}`);
        return true;
      });
      assert.deepEqual(readdirSync(dst.audit), []);
      assert.equal(
        readdirSync(dst.home).some((n) => n.startsWith('.restore-')),
        false,
      );
    }
  });

  test('an audit line edited inside an archive whose manifest matches is refused by the chain check', async () => {
    const src = await seeded('bk-tamper');
    const archive = join(src.home, 'b.tar.gz');
    await createBackup(src, archive);
    const x = join(src.home, 'x');
    mkdirSync(x);
    const members = await extractTarGz(archive, x);
    const day = members.find((m) => /^audit\/\d{4}-\d{2}-\d{2}\.jsonl$/.test(m.name))?.name as string;
    const lines = readFileSync(join(x, day), 'utf8').split('\n');
    lines[5] = (lines[5] as string).replace('"level":"INFO"', '"level":"DEBUG"');
    writeFileSync(join(x, day), lines.join('\n'));
    // Re-pack with a manifest that matches the edited bytes: only the hash chain can tell.
    const manifest = JSON.parse(readFileSync(join(x, MANIFEST_NAME), 'utf8')) as BackupManifest;
    const files = members.filter((m) => m.name !== MANIFEST_NAME);
    manifest.files = files.map((m) => {
      const data = readFileSync(join(x, m.name));
      return {
        path: m.name,
        size: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
        mode: m.mode,
      };
    });
    const forged = join(src.home, 'forged.tar.gz');
    const w = new TarGzWriter(forged);
    await w.addBuffer(MANIFEST_NAME, Buffer.from(JSON.stringify(manifest)), 0o600);
    for (const m of files) {
      const p = join(x, m.name);
      await w.addFile(m.name, p, { bytes: statSync(p).size, mode: m.mode, mtimeMs: 0 });
    }
    await w.close();
    const dst = opsHome('bk-tamper-dst');
    await assert.rejects(restoreBackup(dst, forged), (err: Error) => {
      assert.match(err.message, /audit log in it does not verify/);
      assert.match(err.message, new RegExp(day.replace('.', '\\.')));
      return true;
    });
  });

  test('CLI: refuses a data dir with data without --force; --force keeps the old files aside', async () => {
    const src = await seeded('bk-cli');
    const archive = join(src.home, 'cli.tar.gz');
    const b = cli(src, ['backup', '-o', archive]);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stderr, /holds the audit signing key/);
    assert.match(b.stdout, /backup written/);

    const dst = await seeded('bk-cli-dst'); // has its own data and its own key
    const dry = cli(dst, ['restore', archive, '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /archive OK/);
    const refused = cli(dst, ['restore', archive]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /already holds .* --force/);
    const forced = cli(dst, ['restore', archive, '--force', '--json']);
    assert.equal(forced.status, 0, forced.stderr);
    const report = JSON.parse(forced.stdout) as { replacedDir: string };
    assert.ok(readdirSync(join(report.replacedDir, 'audit')).length > 0, 'old audit log kept aside');
    assert.deepEqual(
      readFileSync(join(dst.keys, 'audit-ed25519.pub')),
      readFileSync(join(src.keys, 'audit-ed25519.pub')),
    );
    assert.equal(cli(dst, ['verify']).status, 0);
    const usage = cli(dst, ['restore']);
    assert.equal(usage.status, 2);
  });

  test('taken while the collector ingests: the archive verifies and restores to every event it logged', async () => {
    const src = opsHome('bk-live');
    writeSpoolFiles(src, 3000);
    const child = spawnCollector(src);
    try {
      assert.ok(
        await waitFor(() =>
          readdirSync(src.audit).some((n) => n.endsWith('.jsonl') && n !== 'checkpoints.jsonl'),
        ),
      );
      const archive = join(src.home, 'live.tar.gz');
      const r = await createBackup(src, archive);
      // Refused while a collector runs (restoring under it would corrupt both).
      await assert.rejects(restoreBackup(src, archive, { force: true }), /collector is running/);
      const dst = opsHome('bk-live-dst');
      await restoreBackup(dst, archive);
      assert.ok(
        storeCount(dst) <= r.manifest.counts.audit_entries,
        'the store snapshot is not ahead of the log',
      );
      const c = await Collector.open(dst, DEFAULT_CONFIG);
      assert.equal(c.store.stats().events, r.manifest.counts.audit_entries);
      await c.stop();
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
