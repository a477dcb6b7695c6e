/**
 * Fault and load tests not covered by crash/faults/pipeline: a damaged or deleted store is rebuilt from the
 * audit log at start; tampering with the log is named by `verify`; 10 concurrent writers x 5,000 events;
 * 10 MB payloads in both capture modes; 10,000 fuzzed malformed payloads, every one accounted for.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { listDayFiles, verifyAudit } from '../../src/audit/index.ts';
import { Collector } from '../../src/collector/collector.ts';
import { type Config, DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { cli, exited, fixturePayloads, spawnCollector, spoolCount, waitFor } from '../helpers.ts';
import { cleanupHomes, opsHome, seedDays } from '../ops-helpers.ts';

after(cleanupHomes);

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function stats(paths: DataPaths) {
  const s = Store.open(paths.storeFile, { readonly: true });
  try {
    return s.stats();
  } finally {
    s.close();
  }
}

/** Writes one spool file the way the hook does: whole into tmp/, then renamed into new/. */
function spool(paths: DataPaths, body: string | Buffer, project = '/home/dev/project'): void {
  const name = `${process.pid}.${randomUUID()}.project`;
  const tmp = join(paths.spoolTmp, name);
  writeFileSync(tmp, Buffer.concat([Buffer.from(`CT1 ${project}\n`), Buffer.from(body)]));
  renameSync(tmp, join(paths.spoolNew, name));
}

describe('store damaged or deleted: detected at start, rebuilt from the audit log', () => {
  const cases: [string, (p: DataPaths) => void, RegExp][] = [
    [
      'pages overwritten with garbage',
      (p) => {
        const fd = openSync(p.storeFile, 'r+');
        const size = statSync(p.storeFile).size;
        for (let off = 8192; off < size; off += 4096 * 5) writeSync(fd, Buffer.alloc(200, 0x5a), 0, 200, off);
        closeSync(fd);
      },
      /quick_check|SQLITE_CORRUPT/,
    ],
    [
      'replaced by something that is not a database',
      (p) => writeFileSync(p.storeFile, 'x'.repeat(10_000)),
      /SQLITE_NOTADB/,
    ],
    [
      'deleted while its WAL stayed',
      (p) => {
        unlinkSync(p.storeFile);
        writeFileSync(`${p.storeFile}-wal`, Buffer.alloc(4096, 1));
      },
      /events\.db is missing but events\.db-wal remain/,
    ],
  ];
  for (const [what, damage, reason] of cases) {
    test(what, async () => {
      const paths = opsHome('fault-store');
      await seedDays(paths, { perDay: 1500, days: 2 });
      damage(paths);
      const logs: string[] = [];
      const c = await Collector.open(paths, DEFAULT_CONFIG, (m) => logs.push(m));
      try {
        assert.equal(c.store.stats().events, 3000, 'every audit entry is back in the store');
        assert.equal(c.store.quickCheck().length, 0);
      } finally {
        await c.stop();
      }
      assert.match(logs.join('\n'), /store damaged .* rebuilding it from the audit log/s);
      const aside = readdirSync(paths.store).filter((n) => n.startsWith('damaged-'));
      assert.equal(aside.length, 1);
      assert.match(readFileSync(join(paths.store, aside[0] as string, 'reason.txt'), 'utf8'), reason);
      assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).ok, true);
    });
  }

  test('a sound store is left alone', async () => {
    const paths = opsHome('fault-store-ok');
    await seedDays(paths, { perDay: 100, days: 1 });
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    await c.stop();
    assert.deepEqual(
      readdirSync(paths.store).filter((n) => n.startsWith('damaged-')),
      [],
    );
  });
});

describe('an audit line edited, removed or reordered: verify names it', () => {
  const cases: [string, (lines: string[]) => string[], RegExp][] = [
    [
      'edited',
      (l) => l.map((x, i) => (i === 40 ? x.replace('"level":"INFO"', '"level":"ERROR"') : x)),
      /seq 41 .*line 41/s,
    ],
    ['removed', (l) => l.filter((_, i) => i !== 40), /seq jumps from 40 to 42.*line 41/s],
    [
      'reordered',
      (l) => [...l.slice(0, 40), l[41] as string, l[40] as string, ...l.slice(42)],
      /seq 42 .*line 41/s,
    ],
  ];
  for (const [what, change, expected] of cases) {
    test(what, async () => {
      const paths = opsHome('fault-audit');
      await seedDays(paths, { perDay: 200, days: 1 });
      const file = join(paths.audit, listDayFiles(paths.audit)[0] as string);
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      writeFileSync(file, `${change(lines).join('\n')}\n`);
      const r = cli(paths, ['verify']);
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stdout, /FAILED/);
      assert.match(r.stdout, expected);
      assert.ok(r.stdout.includes(listDayFiles(paths.audit)[0] as string), 'names the file');
    });
  }
});

describe('load', () => {
  test('10 concurrent writers x 5,000 events into a running collector: 50,000 stored once, in order per writer', {
    timeout: 150_000,
  }, async () => {
    const paths = opsHome('load-writers');
    const collector = spawnCollector(paths);
    children.push(collector);
    assert.ok(await waitFor(() => existsSync(paths.statusFile), 20_000), 'collector up');
    const template = fixturePayloads().find((p) => p.hook_event_name === 'PreToolUse') as Record<
      string,
      unknown
    >;
    // Each writer is its own process writing like the hook: tmp/ then rename into new/.
    const writer = `
      const { writeFileSync, renameSync } = require('node:fs');
      const { randomUUID } = require('node:crypto');
      const [tmp, ready, w, n, tpl] = process.argv.slice(1);
      const t = JSON.parse(tpl);
      for (let i = 0; i < Number(n); i++) {
        const name = process.pid + '.' + randomUUID() + '.project';
        const body = JSON.stringify({ ...t, session_id: 'writer-' + w, tool_use_id: 'w' + w + '-' + i });
        writeFileSync(tmp + '/' + name, 'CT1 /home/dev/project\\n' + body);
        renameSync(tmp + '/' + name, ready + '/' + name);
      }`;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 10 }, (_, w) => {
        const child = spawn(
          process.execPath,
          ['-e', writer, paths.spoolTmp, paths.spoolNew, String(w), '5000', JSON.stringify(template)],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        children.push(child);
        return exited(child).then((code) => assert.equal(code, 0));
      }),
    );
    assert.ok(await waitFor(() => spoolCount(paths) === 0, 120_000), 'spool drained');
    collector.kill('SIGTERM');
    await exited(collector);
    const ms = Date.now() - started;
    process.stderr.write(`# 10 writers x 5,000 events written and ingested in ${ms} ms\n`);

    const store = Store.open(paths.storeFile, { readonly: true });
    try {
      assert.equal(store.stats().events, 50_000);
      assert.equal(store.stats().sessions, 10);
      for (let w = 0; w < 10; w++) {
        const events = store.timeline(`writer-${w}`);
        assert.equal(events.length, 5000);
        assert.equal(new Set(events.map((e) => e.tool_use_id)).size, 5000, `writer ${w}: each event once`);
      }
    } finally {
      store.close();
    }
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(v.ok, true, JSON.stringify(v.firstError));
    assert.equal(v.entries, 50_000);
  });

  for (const capture of ['metadata', 'full'] as const) {
    test(`10 MB payloads (capture: ${capture}): stored, audited, nothing quarantined`, {
      timeout: 60_000,
    }, async () => {
      const paths = opsHome(`load-10mb-${capture}`);
      const ten = 10 * 1024 * 1024;
      const text = 'line of output with a path /home/dev/project/src/app.ts\n'
        .repeat(Math.ceil(ten / 56))
        .slice(0, ten);
      const base = {
        session_id: `big-${capture}`,
        cwd: '/home/dev/project',
        transcript_path: '/home/dev/.claude/projects/-home-dev-project/big.jsonl',
      };
      spool(
        paths,
        JSON.stringify({
          ...base,
          hook_event_name: 'PreToolUse',
          tool_name: 'Write',
          tool_use_id: 'w1',
          tool_input: { file_path: '/home/dev/project/big.txt', content: text },
        }),
      );
      spool(
        paths,
        JSON.stringify({
          ...base,
          hook_event_name: 'PostToolUse',
          tool_name: 'Bash',
          tool_use_id: 'b1',
          tool_input: { command: 'cat big.txt' },
          tool_response: { stdout: text, stderr: '', interrupted: false },
        }),
      );
      spool(paths, JSON.stringify({ ...base, hook_event_name: 'UserPromptSubmit', prompt: text }));
      const config: Config = { ...DEFAULT_CONFIG, capture };
      const started = Date.now();
      const c = await Collector.open(paths, config);
      c.start();
      await c.whenIdle();
      await c.stop();
      const ms = Date.now() - started;
      assert.ok(ms < 45_000, `ingested in ${ms} ms`);
      const s = stats(paths);
      assert.equal(s.events, 3);
      assert.equal(readdirSync(paths.quarantine).length, 0);
      const store = Store.open(paths.storeFile, { readonly: true });
      try {
        const events = store.timeline(`big-${capture}`);
        const size = JSON.stringify(events).length;
        if (capture === 'metadata') assert.ok(size < 20_000, `contents reduced (${size} bytes kept)`);
        else {
          // Full capture keeps text, each field cut at 64 KiB with a marker saying how much was left out.
          const prompt = events.find((e: TelemetryEvent) => e.hook_event === 'UserPromptSubmit');
          const kept = String((prompt?.raw_input as { prompt?: unknown } | undefined)?.prompt);
          assert.ok(kept.startsWith('line of output'), kept.slice(0, 40));
          assert.match(kept, /<truncated:\d+ chars>$/);
          assert.ok(size > 3 * 60_000, `contents kept (${size} bytes)`);
        }
        const write = events.find((e: TelemetryEvent) => e.tool_name === 'Write');
        assert.equal(write?.action_details.file_path, '/home/dev/project/big.txt');
      } finally {
        store.close();
      }
      assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).ok, true);
      process.stderr.write(`# 3 x 10 MB payloads, capture ${capture}: ${ms} ms\n`);
    });
  }

  test('10,000 fuzzed malformed payloads: no crash, each one stored or quarantined with a reason', {
    timeout: 120_000,
  }, async () => {
    const paths = opsHome('load-fuzz');
    const valid = fixturePayloads();
    const json = fc.jsonValue({ maxDepth: 4 });
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
      json.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      // Real payloads cut short, or with fields of the wrong type.
      fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([p, n]) => {
        const t = JSON.stringify(p);
        return Buffer.from(t.slice(0, n % t.length));
      }),
      fc
        .tuple(
          fc.constantFrom(...valid),
          fc.constantFrom('session_id', 'hook_event_name', 'tool_name', 'tool_input', 'cwd'),
          json,
        )
        .map(([p, k, v]) => Buffer.from(JSON.stringify({ ...p, [k]: v }))),
      fc.constant(Buffer.alloc(0)),
      fc.constant(Buffer.from('\u0000\uffff{"a":')),
    );
    const samples = fc.sample(payload, { numRuns: 10_000, seed: 20261121 });
    for (const b of samples) spool(paths, b);
    assert.equal(spoolCount(paths), 10_000);

    const started = Date.now();
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.start();
    await c.whenIdle();
    const counters = { ...c.pipeline.counters };
    await c.stop();
    const ms = Date.now() - started;

    const quarantined = readdirSync(paths.quarantine).filter((n) => !n.endsWith('.reason.json'));
    const stored = stats(paths).events;
    assert.equal(spoolCount(paths), 0, 'nothing left behind');
    assert.equal(stored + quarantined.length, 10_000, `${stored} stored + ${quarantined.length} quarantined`);
    assert.equal(counters.stored, stored);
    assert.equal(counters.quarantined, quarantined.length);
    assert.ok(
      stored > 500 && quarantined.length > 500,
      `both outcomes are exercised: ${stored} stored, ${quarantined.length} quarantined`,
    );
    for (const q of quarantined) {
      const reason = JSON.parse(readFileSync(join(paths.quarantine, `${q}.reason.json`), 'utf8')) as {
        reason: string;
      };
      assert.ok(reason.reason.length > 0, `${q} has a reason`);
    }
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(v.ok, true, JSON.stringify(v.firstError));
    assert.equal(v.entries, stored);
    process.stderr.write(
      `# 10,000 fuzzed payloads: ${stored} stored, ${quarantined.length} quarantined in ${ms} ms\n`,
    );
  });
});
