/**
 * The collector follows the transcripts of the sessions it ingests (main and subagents), and an agent shows
 * in `agents` soon after its first event. Uses the compiled CLI (npm run build first).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { listAgents } from '../../src/agents/fleet.ts';
import { Store } from '../../src/store/index.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { costReport } from '../../src/usage/report.ts';
import { cli, exited, REPO, sleep, spawnCollector, tempPaths } from '../helpers.ts';

const SESSION = '2a8611e7-0806-4a69-93cf-1ec49e3ad0ca';
const AGENT = 'a1c69b109ed99d9b3';

function spool(paths: ReturnType<typeof tempPaths>, n: number, payload: Record<string, unknown>): void {
  const name = `${50_000 + n}.${SESSION}-${n}.project`;
  writeFileSync(join(paths.spoolTmp, name), `CT1 /home/dev/project\n${JSON.stringify(payload)}`);
  // Renamed into new/ as the hook does, so the collector never sees a partial file.
  renameSync(join(paths.spoolTmp, name), join(paths.spoolNew, name));
}

async function poll<T>(fn: () => T | undefined, timeoutMs = 20_000): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = fn();
    if (v !== undefined) return v;
    await sleep(5);
  }
  return undefined;
}

test('the collector reads the usage of the sessions it sees; agents appear after their first event', async () => {
  const paths = tempPaths('usage');
  writeFileSync(paths.config, 'server: {port: 0}\n');
  const projects = join(paths.home, 'claude-projects');
  cpSync(join(REPO, 'test', 'fixtures', 'transcripts', 'projects'), projects, { recursive: true });
  const transcript = join(projects, '-home-dev-project', `${SESSION}.jsonl`);
  const child = spawnCollector(paths);
  try {
    const store = await poll(() => {
      try {
        return Store.open(paths.storeFile, { readonly: true });
      } catch {
        return undefined;
      }
    });
    assert.ok(store, 'store created');
    const base = { session_id: SESSION, transcript_path: transcript, cwd: '/home/dev/project' };
    spool(paths, 1, { ...base, hook_event_name: 'SessionStart', source: 'startup' });
    const t0 = performance.now();
    spool(paths, 2, {
      ...base,
      hook_event_name: 'SubagentStart',
      agent_id: AGENT,
      agent_type: 'general-purpose',
    });
    const pricing = new Pricing();
    const seen = await poll(() =>
      listAgents(store, pricing).find((a) => a.agent_id === AGENT && a.events > 0) ? true : undefined,
    );
    const visibleMs = performance.now() - t0;
    assert.ok(seen, 'subagent listed');
    process.stdout.write(
      `# agent visible in agents ${visibleMs.toFixed(0)} ms after its first event was spooled\n`,
    );
    // Usage: main transcript and the subagent's, each response once.
    const report = await poll(() => {
      const r = costReport(store, pricing, { by: 'agent' });
      return r.rows.length === 2 ? r : undefined;
    });
    assert.ok(report, 'usage of main and subagent transcripts stored');
    const expected = new Set<string>();
    for (const f of [
      transcript,
      join(projects, '-home-dev-project', SESSION, 'subagents', `agent-${AGENT}.jsonl`),
    ])
      for (const l of readFileSync(f, 'utf8').split('\n'))
        if (l.includes('"type":"assistant"')) {
          const o = JSON.parse(l);
          expected.add(`${o.message.id}/${o.requestId}`);
        }
    assert.equal(report.total.messages, expected.size);
    store.close();
    // The CLI shows the same through its own connection.
    const out = cli(paths, ['cost', '--by', 'agent', '--json']);
    assert.equal(out.status, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).total.messages, expected.size);
    const tree = cli(paths, ['tree', SESSION.slice(0, 8)]);
    assert.equal(tree.status, 0, tree.stderr);
    assert.match(tree.stdout, new RegExp(`${AGENT} \\(general-purpose\\)`));
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
});
