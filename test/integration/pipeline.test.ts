/**
 * Hook -> spool -> collector -> audit log + store, with the real hook script and the real modules.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { verifyAudit } from '../../src/audit/index.ts';
import { hookCommand, optOut } from '../../src/capture/settings.ts';
import { Collector } from '../../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import type { DataPaths } from '../../src/config/paths.ts';
import { Store } from '../../src/store/index.ts';
import { fixturePayloads, runHook, spoolCount, tempPaths, writeSpoolFiles } from '../helpers.ts';

const homes: DataPaths[] = [];
after(() => {
  for (const p of homes) rmSync(p.home, { recursive: true, force: true });
});
function home(tag: string): DataPaths {
  const p = tempPaths(tag);
  homes.push(p);
  return p;
}

function storedEvents(paths: DataPaths) {
  const store = Store.open(paths.storeFile);
  try {
    return store.query({ limit: 1_000_000 });
  } finally {
    store.close();
  }
}

describe('pipeline', () => {
  test('every captured payload of both Claude Code versions goes hook -> audit + store, in order', async () => {
    const paths = home('pipe');
    const files = ['hook-payloads.full.2.1.329.jsonl', 'hook-payloads.full.2.1.197.jsonl'];
    const payloads = files.flatMap((f) => fixturePayloads(f));
    for (const p of payloads) assert.equal(runHook(paths, JSON.stringify(p)).status, 0);
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.drain();
    await c.stop();
    const events = storedEvents(paths);
    assert.equal(events.length, payloads.length);
    // Same order as fired (coarse mtimes are broken by the hook's pid).
    assert.deepEqual(
      events.map((e) => e.hook_event),
      payloads.map((p) => p.hook_event_name),
    );
    assert.equal(readdirSync(paths.spoolNew).length, 0, 'spool emptied once committed');
    const v = await verifyAudit(paths.audit, { keysDir: paths.keys });
    assert.equal(v.ok, true);
    assert.equal(v.entries, payloads.length);
    assert.equal(v.unanchoredTail, 0, 'stop() signs a final checkpoint');
    const agent = events.filter((e) => e.agent_id === 'a1c69b109ed99d9b3');
    assert.ok(agent.length >= 4, 'subagent events carry agent_id');
  });

  test('re-reading a spool file after a crash does not duplicate it', async () => {
    const paths = home('dup');
    const payload = JSON.stringify(fixturePayloads()[2]);
    runHook(paths, payload);
    const [name] = readdirSync(paths.spoolNew);
    assert.ok(name);
    const copy = readFileSync(join(paths.spoolNew, name));
    // Event ids hold the file's time to the ms; set back mid-millisecond, as utimes rounds through seconds.
    const mtime = (Math.floor(statSync(join(paths.spoolNew, name)).mtimeMs) + 0.5) / 1000;
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.drain();
    // The same file shows up again (as if deletion had not happened before a crash): same name, bytes and time.
    writeFileSync(join(paths.spoolNew, name), copy);
    utimesSync(join(paths.spoolNew, name), mtime, mtime);
    c.drain();
    await c.stop();
    assert.equal(storedEvents(paths).length, 1);
    assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).entries, 1);
    assert.equal(c.pipeline.counters.duplicates, 1);
  });

  test('audit entries missing from the store (crash between the two) are recovered at open', async () => {
    const paths = home('recover');
    for (const p of fixturePayloads().slice(0, 10)) runHook(paths, JSON.stringify(p));
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.drain();
    await c.stop();
    // Lose the store entirely: the audit log is the source of truth.
    for (const s of ['', '-wal', '-shm']) rmSync(`${paths.storeFile}${s}`, { force: true });
    const c2 = await Collector.open(paths, DEFAULT_CONFIG);
    await c2.stop();
    assert.equal(storedEvents(paths).length, 10);
  });

  test('bad input is quarantined with a reason; unknown events and tools are kept', async () => {
    const paths = home('bad');
    runHook(paths, '{"session_id": "s1", "hook_event_name": "PreToolUse", ');
    runHook(paths, '');
    runHook(paths, Buffer.from([0, 1, 2, 255, 254, 0, 7]));
    runHook(paths, JSON.stringify({ session_id: 's1', hook_event_name: 'BrandNewEvent', x: 1 }));
    runHook(
      paths,
      JSON.stringify({
        session_id: 's1',
        hook_event_name: 'PreToolUse',
        tool_name: 'FancyTool',
        tool_input: {},
      }),
    );
    // 10 MB Write: a valid payload, stored with its content reduced to a digest.
    const big = 'x'.repeat(10 * 1024 * 1024);
    runHook(
      paths,
      JSON.stringify({
        session_id: 's1',
        cwd: '/home/dev/project',
        hook_event_name: 'PreToolUse',
        tool_name: 'Write',
        tool_input: { file_path: '/home/dev/project/big.txt', content: big },
      }),
    );
    const config = {
      ...DEFAULT_CONFIG,
      ingest: { ...DEFAULT_CONFIG.ingest, maxPayloadBytes: 12 * 1024 * 1024 },
    };
    // 13 MB: over the configured limit.
    runHook(
      paths,
      JSON.stringify({ session_id: 's1', hook_event_name: 'PreToolUse', pad: 'y'.repeat(13 << 20) }),
    );
    const c = await Collector.open(paths, config);
    c.drain();
    await c.stop();
    const reasons = readdirSync(paths.quarantine)
      .filter((f) => f.endsWith('.reason.json'))
      .map((f) => (JSON.parse(readFileSync(join(paths.quarantine, f), 'utf8')) as { reason: string }).reason)
      .sort();
    assert.equal(reasons.length, 4, `reasons: ${reasons.join(' | ')}`);
    assert.ok(reasons.some((r) => /malformed JSON/i.test(r)));
    assert.ok(reasons.some((r) => /empty/i.test(r)));
    assert.ok(reasons.some((r) => /too large/i.test(r)));
    const events = storedEvents(paths);
    assert.deepEqual(events.map((e) => e.event_type).sort(), ['file_write', 'tool_usage', 'unknown_event']);
    const write = events.find((e) => e.event_type === 'file_write');
    assert.equal(write?.action_details.size_bytes, big.length);
    assert.ok(JSON.stringify(write).length < 10_000, 'content reduced, not stored');
    assert.equal(readdirSync(paths.spoolNew).length, 0);
  });

  test('8 concurrent writers: every event stored exactly once', async () => {
    const paths = home('conc');
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.start();
    const perWriter = 60;
    const cmd = hookCommand(paths.hook, 'project');
    const script = `i=0; while [ $i -lt ${perWriter} ]; do printf '{"session_id":"w%s","hook_event_name":"Notification","message":"m-%s-%s"}' "$W" "$W" "$i" | sh -c "$HOOK"; i=$((i+1)); done`;
    await Promise.all(
      Array.from(
        { length: 8 },
        (_, w) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn('sh', ['-c', script], {
              env: { PATH: process.env.PATH ?? '', W: String(w), HOOK: cmd },
              stdio: 'ignore',
            });
            child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
          }),
      ),
    );
    await c.whenIdle();
    await c.stop();
    const events = storedEvents(paths);
    assert.equal(events.length, 8 * perWriter);
    assert.equal(new Set(events.map((e) => e.id)).size, 8 * perWriter);
    for (let w = 0; w < 8; w++) {
      assert.equal(events.filter((e) => e.session_id === `w${w}`).length, perWriter);
    }
  });

  test('without the I/O thread (one CPU) a burst is stored in full, and the event loop runs between batches', async () => {
    const paths = home('onecpu');
    writeSpoolFiles(paths, 450);
    const logged: string[] = [];
    const config = { ...DEFAULT_CONFIG, ingest: { ...DEFAULT_CONFIG.ingest, batchSize: 100 } };
    const c = await Collector.open(paths, config, (m) => logged.push(m), { ioThread: false });
    // A chain of setImmediate callbacks counts the event loop's turns while the spool drains.
    let turns = 0;
    let draining = true;
    const spin = () => {
      turns++;
      if (draining) setImmediate(spin);
    };
    setImmediate(spin);
    const stored = await c.drainAsync();
    draining = false;
    await c.stop();
    assert.equal(stored, 450);
    assert.equal(storedEvents(paths).length, 450);
    assert.equal(spoolCount(paths), 0);
    assert.ok(turns >= 4, `the event loop turned ${turns} times during five batches`);
    assert.ok(
      logged.some((m) => /on the collector thread, without a worker \(CPUs available: \d+\)/.test(m)),
    );
    assert.equal((await verifyAudit(paths.audit, { keysDir: paths.keys })).ok, true);
  });

  test('events spooled while the collector was down are ingested when it starts', async () => {
    const paths = home('down');
    const session = randomUUID();
    for (const p of fixturePayloads().slice(0, 25))
      runHook(paths, JSON.stringify({ ...p, session_id: session }));
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.start();
    await c.whenIdle();
    await c.stop();
    assert.equal(storedEvents(paths).filter((e) => e.session_id === session).length, 25);
  });
});

describe('global capture with a per-project opt-out', () => {
  test('events of an opted-out project are dropped at ingest and counted; others are kept', async () => {
    const paths = home('optout');
    optOut(paths, '/home/dev/private');
    const cmd = hookCommand(paths.hook, 'global');
    const send = (projectDir: string, session: string) =>
      spawnSync('sh', ['-c', cmd], {
        input: JSON.stringify({ session_id: session, cwd: projectDir, hook_event_name: 'SessionStart' }),
        env: { PATH: process.env.PATH ?? '', CLAUDE_PROJECT_DIR: projectDir },
      });
    send('/home/dev/private', 'private-1');
    send('/home/dev/private/sub', 'private-2');
    send('/home/dev/public', 'public-1');
    const c = await Collector.open(paths, DEFAULT_CONFIG);
    c.drain();
    await c.stop();
    assert.deepEqual(
      storedEvents(paths).map((e) => e.session_id),
      ['public-1'],
    );
    assert.equal(c.pipeline.counters.optedOut, 2);
    assert.equal(readdirSync(paths.spoolNew).length, 0, 'dropped files are deleted, not left behind');
  });
});

describe('quarantine keeps no secrets', () => {
  test('a malformed payload with a token is kept redacted; its reason quotes no payload text', async () => {
    const paths = home('qsecret');
    const token = 'ghp_0123456789abcdefghijABCDEFGHIJ012345';
    runHook(
      paths,
      `${token} {"session_id": "s", "hook_event_name": "PreToolUse", "tool_input": {"command": "x"`,
    );
    runHook(paths, `{"session_id": "s", "hook_event_name": "PreToolUse", "env": "TOKEN=${token}"`);
    const logged: string[] = [];
    const c = await Collector.open(paths, DEFAULT_CONFIG, (m) => logged.push(m));
    c.drain();
    await c.stop();
    const files = readdirSync(paths.quarantine);
    assert.equal(files.filter((f) => !f.endsWith('.reason.json')).length, 2);
    for (const f of files) {
      assert.ok(!readFileSync(join(paths.quarantine, f), 'latin1').includes(token.slice(0, 12)), f);
    }
    assert.ok(!logged.join('\n').includes(token.slice(0, 8)));
    const reasons = files
      .filter((f) => f.endsWith('.reason.json'))
      .map((f) => JSON.parse(readFileSync(join(paths.quarantine, f), 'utf8')).reason as string);
    assert.ok(
      reasons.every((r) => /malformed JSON/.test(r) && /secrets removed/.test(r)),
      reasons.join(' | '),
    );
  });
});
