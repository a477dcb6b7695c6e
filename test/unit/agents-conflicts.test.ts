/**
 * File conflicts between agents: the incremental watch (shared by the `conflicts` command) and the alerts the
 * pipeline raises as it ingests, through the real audit log, store and alert log.
 */
import assert from 'node:assert/strict';
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConflictWatch, type FileAccess } from '../../src/agents/conflicts.ts';
import { findConflicts } from '../../src/agents/fleet.ts';
import { AuditLog } from '../../src/audit/index.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { readAlerts } from '../../src/detect/alerts.ts';
import { Store } from '../../src/store/index.ts';
import { tempPaths } from '../helpers.ts';

const at = (ts: number, session: string, agent: string, tool: string, file = '/p/a.ts'): FileAccess => ({
  ts,
  session_id: session,
  agent_id: agent,
  tool_name: tool,
  file_path: file,
});

test('watch: two writers, a reader of a write, within the window only, each pair once per window', () => {
  const w = new ConflictWatch(60_000);
  assert.deepEqual(w.observe(at(0, 's1', '', 'Write')), []);
  assert.deepEqual(w.observe(at(1_000, 's1', '', 'Edit')), [], 'the same agent');
  const ww = w.observe(at(2_000, 's2', '', 'Edit'));
  assert.equal(ww.length, 1);
  assert.equal(ww[0]?.kind, 'write-write');
  assert.equal(ww[0]?.first.session_id, 's1');
  assert.equal(ww[0]?.first.ts, 1_000, 'the closest earlier access');
  assert.equal(ww[0]?.gap_ms, 1_000);
  assert.deepEqual(w.observe(at(3_000, 's2', '', 'Write')), [], 'pair already reported within the window');
  const rw = w.observe(at(4_000, 's1', 'sub', 'Read'));
  assert.deepEqual(
    rw.map((c) => [c.kind, c.first.session_id, c.first.access, c.second.access]),
    [
      ['read-write', 's2', 'write', 'read'],
      ['read-write', 's1', 'write', 'read'],
    ],
    'a subagent is another agent than its main agent',
  );
  assert.equal(w.observe(at(5_000, 's3', '', 'Read')).length, 2, 'one per writer (s1 main, s2 main)');
  assert.deepEqual(w.observe(at(5_500, 's4', '', 'Read', '/p/other.ts')), [], 'another file');
  assert.deepEqual(w.observe(at(200_000, 's5', '', 'Write')), [], 'everything before is outside the window');
  assert.deepEqual(w.observe(at(200_100, 's6', '', 'Read', '/p/other.ts')), [], 'reads never conflict');
  // A late access (out of order) is compared by absolute gap and ordered by time.
  const late = w.observe(at(199_000, 's7', '', 'Write'));
  assert.equal(late.length, 1);
  assert.equal(late[0]?.first.session_id, 's7');
  assert.equal(late[0]?.second.session_id, 's5');
});

test('watch memory stays bounded by maxFiles', () => {
  const w = new ConflictWatch(1_000, 100);
  for (let i = 0; i < 10_000; i++) w.observe(at(i * 10, 's', '', 'Write', `/f/${i}`));
  assert.ok((w as unknown as { files: Map<string, unknown> }).files.size <= 100);
});

let n = 0;
function spoolEvent(
  paths: ReturnType<typeof tempPaths>,
  tMs: number,
  payload: Record<string, unknown>,
): string {
  n++;
  const name = `${2000 + n}.c${n}.project`;
  const file = join(paths.spoolNew, name);
  writeFileSync(file, `CT1 /home/dev/project\n${JSON.stringify({ cwd: '/home/dev/project', ...payload })}`);
  utimesSync(file, tMs / 1000, tMs / 1000);
  return name;
}

test('pipeline: conflicts raise alerts as events are ingested, folded per rule and session; conflicts agrees', async () => {
  const paths = tempPaths('conflicts');
  const audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
  const store = Store.open(paths.storeFile);
  const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
  try {
    const t0 = Date.now() - 60_000;
    const write = (t: number, session: string, file: string, extra: Record<string, unknown> = {}) =>
      spoolEvent(paths, t, {
        session_id: session,
        hook_event_name: 'PreToolUse',
        tool_name: 'Write',
        tool_use_id: `w${n}`,
        tool_input: { file_path: file, content: 'x' },
        ...extra,
      });
    const read = (t: number, session: string, file: string, extra: Record<string, unknown> = {}) =>
      spoolEvent(paths, t, {
        session_id: session,
        hook_event_name: 'PreToolUse',
        tool_name: 'Read',
        tool_use_id: `r${n}`,
        tool_input: { file_path: file },
        ...extra,
      });
    const names = [
      write(t0, 'alpha', '/home/dev/project/shared.ts'),
      write(t0 + 1_000, 'beta', '/home/dev/project/shared.ts'), // write-write alpha/beta
      write(t0 + 2_000, 'beta', '/home/dev/project/shared.ts'), // same pair: folded
      write(t0 + 3_000, 'gamma', '/home/dev/project/own.ts'),
      read(t0 + 4_000, 'gamma', '/home/dev/project/own.ts'), // its own file: nothing
      read(t0 + 5_000, 'gamma', '/home/dev/project/own.ts', { agent_id: 'sub1', agent_type: 'Explore' }), // read-write
      read(t0 + 6_000, 'delta', '/home/dev/project/elsewhere.ts'),
    ];
    pipeline.runBatch(names.slice(0, 3));
    pipeline.runBatch(names.slice(3));
    await pipeline.agents.conflicts?.flush();
    const alerts = readAlerts(paths.home).filter((a) => a.rule.startsWith('agent-file-conflict'));
    assert.deepEqual(
      alerts.map((a) => [a.rule, a.session, a.severity]),
      [
        ['agent-file-conflict-write', 'beta', 'high'],
        ['agent-file-conflict-read', 'gamma', 'medium'],
      ],
    );
    assert.match(
      alerts[0]?.reason ?? '',
      /two agents wrote \/home\/dev\/project\/shared\.ts: alpha\/main \(Write\) then beta\/main/,
    );
    assert.match(alerts[1]?.reason ?? '', /gamma\/sub1 \(Read\) read \/home\/dev\/project\/own\.ts/);
    assert.equal(pipeline.agents.conflicts?.found, 2);
    // The command over the stored events finds the same two.
    const found = findConflicts(store);
    assert.deepEqual(
      found.map((c) => [c.kind, c.file_path, c.second.session_id]),
      [
        ['write-write', '/home/dev/project/shared.ts', 'beta'],
        ['read-write', '/home/dev/project/own.ts', 'gamma'],
      ],
    );
  } finally {
    audit.close();
    store.close();
    rmSync(paths.home, { recursive: true, force: true });
  }
});
