import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findConflicts, listAgents, sessionTree } from '../../src/agents/fleet.ts';
import { normalize } from '../../src/ingest/index.ts';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { importTranscripts } from '../../src/usage/tailer.ts';
import { fixturePayloads, REPO } from '../helpers.ts';

const PROJECTS = join(REPO, 'test', 'fixtures', 'transcripts', 'projects', '-home-dev-project');
const CTX = { user: 'dev', host: 'test-host', telemetryVersion: '1.0.0', capture: 'metadata' as const };

function eventsOf(payloads: Record<string, unknown>[], t0: number): TelemetryEvent[] {
  return payloads.map((p, i) =>
    normalize(
      {
        name: `${1000 + i}.fixture.project`,
        path: '',
        mtimeMs: t0 + i * 10,
        scope: 'project',
        projectDir: '/home/dev/project',
        body: Buffer.from(JSON.stringify(p)),
      },
      CTX,
    ),
  );
}

let seq = 0;
function insert(store: Store, events: TelemetryEvent[]): void {
  store.insertBatch(events.map((event) => ({ event, auditSeq: ++seq })));
}

/** Sum of usage per message id + request id in one transcript, read the plain way. */
function transcriptTotals(file: string) {
  const seen = new Map<string, { input_tokens: number; output_tokens: number }>();
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (l.trim() === '') continue;
    const o = JSON.parse(l);
    if (o.type === 'assistant') seen.set(`${o.message.id}/${o.requestId}`, o.message.usage);
  }
  const all = [...seen.values()];
  return {
    messages: seen.size,
    input: all.reduce((a, u) => a + u.input_tokens, 0),
    output: all.reduce((a, u) => a + u.output_tokens, 0),
  };
}

const CASES = [
  { version: '2.1.329', session: '2a8611e7-0806-4a69-93cf-1ec49e3ad0ca', agent: 'a1c69b109ed99d9b3' },
  { version: '2.1.197', session: 'b3bd75fd-0b07-45e5-bd2a-93c4d6621227', agent: 'ab3e4903a39129be6' },
];

describe('agents: the recorded sessions with a subagent', async () => {
  const store = Store.open(':memory:');
  const pricing = new Pricing();
  let t0 = Date.parse('2026-11-21T10:00:00Z');
  for (const c of CASES) {
    insert(store, eventsOf(fixturePayloads(`hook-payloads.full.${c.version}.jsonl`), t0));
    t0 += 3_600_000;
  }
  await importTranscripts(store, join(PROJECTS, '..'));

  for (const c of CASES) {
    test(`${c.version}: tree, delegation link, tool counts and tokens equal the transcripts`, () => {
      const t = sessionTree(store, pricing, c.session);
      assert.ok(t);
      assert.equal(t.source, 'startup');
      assert.equal(t.agents, 2);
      assert.equal(t.root.children.length, 1);
      const sub = t.root.children[0];
      assert.ok(sub);
      assert.equal(sub.agent_id, c.agent);
      assert.equal(sub.agent_type, 'general-purpose');
      assert.equal(sub.outcome, 'completed');
      const meta = JSON.parse(
        readFileSync(join(PROJECTS, c.session, 'subagents', `agent-${c.agent}.meta.json`), 'utf8'),
      );
      assert.equal(sub.delegation?.tool_use_id, meta.toolUseId);
      assert.equal(sub.delegation?.delegated_from, '');
      assert.equal(sub.delegation?.background, false);
      assert.deepEqual(sub.tools, { Bash: 1 });
      assert.equal(t.root.tools.Agent, 1);
      assert.equal(t.root.outcome, 'ended');
      const mainT = transcriptTotals(join(PROJECTS, `${c.session}.jsonl`));
      const subT = transcriptTotals(join(PROJECTS, c.session, 'subagents', `agent-${c.agent}.jsonl`));
      assert.equal(t.root.usage.messages, mainT.messages);
      assert.equal(t.root.usage.input, mainT.input);
      assert.equal(t.root.usage.output, mainT.output);
      assert.equal(sub.usage.messages, subT.messages);
      assert.equal(sub.usage.input, subT.input);
      assert.equal(sub.usage.output, subT.output);
      assert.equal(t.total.messages, mainT.messages + subT.messages);
      assert.ok((t.total.cost ?? 0) > 0);
    });
  }

  test('agents lists each main agent and subagent with its events, tools and tokens', () => {
    const list = listAgents(store, pricing);
    assert.equal(list.length, 4);
    for (const c of CASES) {
      const sub = list.find((a) => a.session_id === c.session && a.agent_id === c.agent);
      assert.ok(sub);
      assert.equal(sub.agent_type, 'general-purpose');
      assert.equal(sub.tool_calls, 1);
      assert.ok(sub.events >= 4);
      assert.ok(sub.usage.messages === 2);
      const main = list.find((a) => a.session_id === c.session && a.agent_id === '');
      assert.ok(main && main.tool_calls > 5 && main.errors >= 1);
    }
  });
});

function toolEvent(
  session: string,
  agent: string | undefined,
  tool: string,
  file: string,
  ts: number,
  i: number,
): TelemetryEvent {
  const [e] = eventsOf(
    [
      {
        session_id: session,
        hook_event_name: 'PreToolUse',
        cwd: '/home/dev/project',
        tool_name: tool,
        tool_use_id: `toolu_${i}`,
        tool_input: tool === 'Read' ? { file_path: file } : { file_path: file, content: 'x' },
        ...(agent ? { agent_id: agent, agent_type: 'general-purpose' } : {}),
      },
    ],
    ts,
  );
  return { ...(e as TelemetryEvent), id: `ev-${i}` };
}

describe('conflicts', () => {
  test('two writers within the window and a reader of a file being written are found; others are not', () => {
    const store = Store.open(':memory:');
    const t = Date.parse('2026-11-21T12:00:00Z');
    const f = '/home/dev/project/src/app.ts';
    insert(store, [
      toolEvent('s-a', undefined, 'Write', f, t, 1),
      toolEvent('s-b', undefined, 'Edit', f, t + 5_000, 2),
      toolEvent('s-a', 'sub1', 'Read', f, t + 8_000, 3),
      // Same agent twice: not a conflict. Another file: none. Far later: outside the window.
      toolEvent('s-b', undefined, 'Edit', f, t + 9_000, 4),
      toolEvent('s-c', undefined, 'Write', '/home/dev/project/other.ts', t + 9_000, 5),
      toolEvent('s-c', undefined, 'Write', f, t + 600_000, 6),
      toolEvent('s-d', undefined, 'Read', '/home/dev/project/other.ts', t + 700_000, 7),
    ]);
    const found = findConflicts(store, { windowMs: 60_000 });
    const summary = found.map(
      (c) =>
        `${c.kind} ${c.first.session_id}/${c.first.agent_id} -> ${c.second.session_id}/${c.second.agent_id}`,
    );
    assert.deepEqual(summary, [
      'write-write s-a/ -> s-b/',
      'read-write s-b/ -> s-a/sub1',
      'read-write s-a/ -> s-a/sub1',
      'read-write s-a/sub1 -> s-b/',
    ]);
    assert.ok(found.every((c) => c.file_path === f));
    store.close();
  });
});

describe('tree figure', () => {
  test('the delegation tree of a 1,000-event workflow', () => {
    const store = Store.open(':memory:');
    const session = 'workflow-1000';
    const t = Date.parse('2026-11-21T14:00:00Z');
    const payloads: Record<string, unknown>[] = [
      { session_id: session, hook_event_name: 'SessionStart', source: 'startup' },
    ];
    const base = { session_id: session, cwd: '/home/dev/project' };
    for (let a = 0; a < 10; a++) {
      const id = `agent${a}`;
      const tu = `toolu_launch_${a}`;
      const input = {
        subagent_type: 'Explore',
        description: `part ${a}`,
        prompt: 'look',
        run_in_background: a % 3 === 0,
      };
      payloads.push({
        ...base,
        hook_event_name: 'PreToolUse',
        tool_name: 'Agent',
        tool_use_id: tu,
        tool_input: input,
      });
      payloads.push({ ...base, hook_event_name: 'SubagentStart', agent_id: id, agent_type: 'Explore' });
      for (let k = 0; k < 47; k++) {
        const p = {
          ...base,
          agent_id: id,
          agent_type: 'Explore',
          tool_name: 'Bash',
          tool_use_id: `t${a}-${k}`,
        };
        payloads.push({ ...p, hook_event_name: 'PreToolUse', tool_input: { command: `echo ${k}` } });
        payloads.push({
          ...p,
          hook_event_name: 'PostToolUse',
          tool_input: { command: `echo ${k}` },
          tool_response: { stdout: 'x' },
        });
      }
      payloads.push({ ...base, hook_event_name: 'SubagentStop', agent_id: id, agent_type: 'Explore' });
      payloads.push({
        ...base,
        hook_event_name: 'PostToolUse',
        tool_name: 'Agent',
        tool_use_id: tu,
        tool_input: input,
        tool_response: { status: 'completed', agentId: id, agentType: 'Explore' },
      });
    }
    while (payloads.length < 1000) payloads.push({ ...base, hook_event_name: 'Notification', message: 'x' });
    insert(store, eventsOf(payloads, t));
    const pricing = new Pricing();
    sessionTree(store, pricing, session);
    const runs: number[] = [];
    let tree: ReturnType<typeof sessionTree>;
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      tree = sessionTree(store, pricing, session);
      runs.push(performance.now() - s);
    }
    const ms = runs.sort((a, b) => a - b)[2] as number;
    process.stdout.write(
      `# delegation tree of a ${payloads.length}-event workflow: ${ms.toFixed(1)} ms (median of 5)\n`,
    );
    assert.ok(tree);
    assert.equal(tree?.root.children.length, 10);
    assert.ok(tree?.root.children.every((c) => c.tools.Bash === 47 && c.outcome === 'completed'));
    assert.equal(tree?.root.children.filter((c) => c.delegation?.background).length, 4);
    assert.ok(ms <= 50, `${ms} ms`);
    store.close();
  });
});

test('a background subagent is completed once its SubagentStop arrives after the async launch', () => {
  const store = Store.open(':memory:');
  const session = '7d0f3a52-1f5b-4a7e-9d1e-0c2b6a9e4f11';
  const base = { session_id: session, cwd: '/home/dev/project', transcript_path: '/tmp/t.jsonl' };
  const call = {
    subagent_type: 'general-purpose',
    description: 'scan',
    prompt: 'look',
    run_in_background: true,
  };
  const events = eventsOf(
    [
      { ...base, hook_event_name: 'SessionStart', source: 'startup' },
      {
        ...base,
        hook_event_name: 'PreToolUse',
        tool_name: 'Agent',
        tool_use_id: 'toolu_bg1',
        tool_input: call,
      },
      {
        ...base,
        hook_event_name: 'SubagentStart',
        agent_id: 'a0b1c2d3e4f5a6b7c',
        agent_type: 'general-purpose',
      },
      {
        ...base,
        hook_event_name: 'PostToolUse',
        tool_name: 'Agent',
        tool_use_id: 'toolu_bg1',
        tool_input: call,
        tool_response: { status: 'async_launched', agentId: 'a0b1c2d3e4f5a6b7c' },
      },
      {
        ...base,
        hook_event_name: 'SubagentStop',
        agent_id: 'a0b1c2d3e4f5a6b7c',
        agent_type: 'general-purpose',
      },
    ],
    Date.now() - 60_000,
  );
  insert(store, events);
  const tree = sessionTree(store, new Pricing(), session);
  const bg = tree?.root.children[0];
  assert.equal(bg?.agent_id, 'a0b1c2d3e4f5a6b7c');
  assert.equal(bg?.delegation?.background, true);
  assert.equal(bg?.outcome, 'completed');
  store.close();
});
