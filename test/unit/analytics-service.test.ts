import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/analytics/analyze.ts';
import { startAnalytics } from '../../src/analytics/service.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { dataPaths } from '../../src/config/paths.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';

function event(i: number, session: string): TelemetryEvent {
  return {
    id: `${session}-${i}`,
    timestamp: new Date(Date.now() - 60_000 + i * 1_000).toISOString(),
    hook_event: i === 0 ? 'UserPromptSubmit' : 'PreToolUse',
    session_id: session,
    project_name: 'web-shop',
    ...(i === 0 ? {} : { tool_name: 'Read', action_details: { file_path: `/p/src/f${i}.ts` } }),
  } as TelemetryEvent;
}

test('the analytics thread starts, trains, scores what arrives, reports its work and stops', async () => {
  const paths = dataPaths(mkdtempSync(join(tmpdir(), 'ct-service-')));
  const logs: string[] = [];
  try {
    const store = Store.open(paths.storeFile);
    const svc = startAnalytics({ paths, config: DEFAULT_CONFIG, log: (m) => logs.push(m) });
    assert.ok(svc);
    await svc.step();
    assert.equal(svc.stats.retrains, 1, 'no model yet: trained at once');
    assert.equal(loadModel(paths.home)?.session.coldStart, true);
    store.insertBatch(Array.from({ length: 6 }, (_, i) => ({ event: event(i, 's1'), auditSeq: i + 1 })));
    const next = await svc.step();
    assert.equal(next.noticed, 1);
    assert.equal(next.scored, 1);
    assert.equal(svc.stats.scored, 1);
    assert.ok(svc.busyMs() > 0);
    await svc.stop();
    store.close();
    assert.ok(logs.some((l) => /^analytics: scoring sessions as they progress/.test(l)));
    assert.ok(logs.some((l) => /^analytics: model retrained \(no model yet\)/.test(l)));
  } finally {
    rmSync(paths.home, { recursive: true, force: true });
  }
});

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

test('the analytics thread ends when it has nothing to do and starts again when the store changes', async () => {
  const paths = dataPaths(mkdtempSync(join(tmpdir(), 'ct-service-')));
  try {
    const store = Store.open(paths.storeFile);
    const svc = startAnalytics({ paths, config: DEFAULT_CONFIG, pollMs: 20, idleExitMs: 200 });
    assert.ok(svc);
    await svc.step();
    await until('the thread to end', () => svc.stats.idleExits === 1);
    const busy = svc.busyMs();
    assert.ok(busy > 0, 'the busy time of an ended thread is kept');
    // Events stored while no thread runs: a thread starts again, follows on from its saved position, scores.
    store.insertBatch(Array.from({ length: 6 }, (_, i) => ({ event: event(i, 's1'), auditSeq: i + 1 })));
    await until('the new session to be scored', () => svc.stats.scored === 1);
    await until('the thread to end again', () => svc.stats.idleExits === 2);
    // A step asked for while no thread runs starts one and is answered.
    const asked = await svc.step();
    assert.equal(asked.noticed, 0);
    assert.ok(svc.busyMs() >= busy);
    await svc.stop();
    store.close();
  } finally {
    rmSync(paths.home, { recursive: true, force: true });
  }
});

test('analytics.enabled: false starts nothing and says so', () => {
  const logs: string[] = [];
  const svc = startAnalytics({
    paths: { home: '/nonexistent', storeFile: '/nonexistent/store.db' },
    config: { analytics: { ...DEFAULT_CONFIG.analytics, enabled: false } },
    log: (m) => logs.push(m),
  });
  assert.equal(svc, undefined);
  assert.deepEqual(logs, ['analytics: disabled (analytics.enabled: false in config.yaml)']);
});
