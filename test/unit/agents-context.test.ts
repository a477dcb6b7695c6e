/**
 * The seed's multi-agent fields, derived during normalization from real payloads (the recorded Claude Code
 * session with one subagent), the fleet variables of the CT2 header and the agent registry.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentContextDeriver, attachAgentContext } from '../../src/agents/context.ts';
import { type AgentSummary, listAgents, sessionTree } from '../../src/agents/fleet.ts';
import { parseRegistry, RegistryError, RegistryWatcher } from '../../src/agents/registry.ts';
import { type NormalizeContext, normalize, ScopeCache } from '../../src/ingest/index.ts';
import { Store } from '../../src/store/index.ts';
import type { FleetEnv, TelemetryEvent } from '../../src/types.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { fixturePayloads } from '../helpers.ts';

const AGENT_FIELDS = ['agent_context', 'session_context', 'project_context', 'correlation'] as const;
const SUB = 'a1c69b109ed99d9b3';

function context(): NormalizeContext {
  return {
    user: 'dev',
    host: 'box',
    telemetryVersion: '0',
    capture: 'metadata',
    scopeCache: new ScopeCache(),
  };
}

let n = 0;
function run(
  ctx: NormalizeContext,
  payload: Record<string, unknown>,
  fleet?: FleetEnv,
  project = '/home/dev/project',
): TelemetryEvent {
  n++;
  return normalize(
    {
      name: `${1000 + n}.x${n}.project`,
      path: '',
      mtimeMs: 1_700_000_000_000 + n,
      scope: 'project',
      projectDir: project,
      body: Buffer.from(JSON.stringify(payload)),
      ...(fleet ? { fleet } : {}),
    },
    ctx,
  );
}

function hasAgentFields(ev: TelemetryEvent): boolean {
  return AGENT_FIELDS.some((k) => k in ev);
}

test('a recorded session: single-agent events keep the base schema; the delegation is described', () => {
  const ctx = context();
  const evs = fixturePayloads().map((p) => run(ctx, p));
  const launchAt = evs.findIndex((e) => e.tool_name === 'Agent');
  assert.ok(launchAt > 0);
  for (const e of evs.slice(0, launchAt)) assert.ok(!hasAgentFields(e), `${e.hook_event} ${e.tool_name}`);

  const launch = evs[launchAt]!;
  assert.deepEqual(launch.agent_context, {
    agent_id: 'main',
    agent_type: 'claude-code',
    agent_role: 'coordinator',
    instance_id: launch.session_id,
  });
  assert.equal(launch.session_context?.coordination_mode, 'sequential');
  assert.equal(launch.correlation?.workflow_id, launch.session_id);

  const inside = evs.filter((e) => e.agent_id === SUB);
  assert.equal(inside.length, 5, 'SubagentStart, Pre/Post Bash, PostToolBatch, SubagentStop');
  for (const e of inside) {
    assert.deepEqual(e.agent_context, {
      agent_id: SUB,
      agent_type: 'general-purpose',
      agent_role: 'secondary',
      instance_id: e.session_id,
    });
    assert.deepEqual(e.session_context?.session_hierarchy, ['main', SUB]);
    assert.equal(e.session_context?.coordination_level, 1);
    assert.deepEqual(e.correlation?.task_delegation, {
      delegated_from: 'main',
      delegation_type: 'sequential',
      task_type: 'general-purpose',
    });
    assert.deepEqual(e.correlation?.related_agents, ['main']);
    assert.equal(e.project_context, undefined, 'no registry: no project group');
  }
  // After the delegation the main agent's events say it coordinates; its subagent has stopped.
  const end = evs.at(-1)!;
  assert.equal(end.hook_event, 'SessionEnd');
  assert.equal(end.agent_context?.agent_role, 'coordinator');
  assert.deepEqual(end.session_context?.session_hierarchy, ['main']);
  assert.equal(end.correlation?.related_agents, undefined);
});

test('another session through the same collector stays in the base schema', () => {
  const ctx = context();
  for (const p of fixturePayloads()) run(ctx, p);
  const other = fixturePayloads()
    .filter((p) => p.agent_id === undefined && p.tool_name !== 'Agent')
    .map((p) => run(ctx, { ...p, session_id: 'other-session' }));
  for (const e of other) assert.ok(!hasAgentFields(e), `${e.hook_event}`);
});

test('resume, fork and compact mark the SessionStart; startup does not', () => {
  const ctx = context();
  const start = fixturePayloads()[0]!;
  for (const source of ['resume', 'fork', 'compact']) {
    const e = run(ctx, { ...start, source, session_id: `s-${source}` });
    assert.equal(e.session_context?.continued_by, source);
    assert.equal(e.agent_context?.agent_role, 'primary');
    const next = run(ctx, { ...fixturePayloads()[1]!, session_id: `s-${source}` });
    assert.ok(!hasAgentFields(next), 'later events of a single agent are unchanged');
  }
  assert.ok(!hasAgentFields(run(ctx, { ...start, source: 'startup', session_id: 's-new' })));
});

test('fleet variables: identity, group, role and workflow; agents of one workflow are related', () => {
  const ctx = context();
  const base = fixturePayloads()[2]!; // PreToolUse Bash
  const a = run(
    ctx,
    { ...base, session_id: 'sa' },
    { agent_id: 'agent-001', agent_group: 'alpha', workflow_id: 'wf' },
  );
  assert.deepEqual(a.agent_context, {
    agent_id: 'agent-001',
    agent_type: 'claude-code',
    agent_group: 'alpha',
    agent_role: 'primary',
    instance_id: 'agent-001',
  });
  assert.equal(a.session_context?.coordination_mode, 'independent');
  assert.equal(a.correlation?.workflow_id, 'wf');
  assert.equal(a.correlation?.related_agents, undefined, 'alone so far');
  const b = run(
    ctx,
    { ...base, session_id: 'sb' },
    { agent_id: 'agent-002', agent_role: 'reviewer', workflow_id: 'wf' },
  );
  assert.deepEqual(b.correlation?.related_agents, ['agent-001']);
  assert.equal(b.agent_context?.agent_role, 'reviewer');
  const c = run(ctx, { ...base, session_id: 'sc' }, { agent_id: 'agent-003', workflow_id: 'other' });
  assert.equal(c.correlation?.related_agents, undefined, 'another workflow');
  const a2 = run(ctx, { ...base, session_id: 'sa' }, { agent_id: 'agent-001', workflow_id: 'wf' });
  assert.deepEqual(a2.correlation?.related_agents, ['agent-002']);
});

test('parallel and nested delegation: background launches, two running at once, a subagent launching another', () => {
  const ctx = context();
  const s = { session_id: 'par', cwd: '/home/dev/project' };
  const call = (id: string, type: string, extra: Record<string, unknown> = {}) =>
    run(ctx, {
      ...s,
      hook_event_name: 'PreToolUse',
      tool_name: 'Agent',
      tool_use_id: id,
      tool_input: { description: 'x', prompt: 'y', subagent_type: type },
      ...extra,
    });
  const start = (agent: string, type: string) =>
    run(ctx, { ...s, hook_event_name: 'SubagentStart', agent_id: agent, agent_type: type });
  call('t1', 'Explore');
  call('t2', 'Plan');
  start('x1', 'Explore');
  const second = start('x2', 'Plan');
  assert.equal(second.session_context?.coordination_mode, 'parallel');
  assert.equal(second.correlation?.task_delegation?.delegation_type, 'parallel');
  assert.deepEqual(second.correlation?.related_agents, ['main', 'x1']);
  // x1 launches x3: hierarchy main > x1 > x3, x1 now coordinates.
  call('t3', 'general-purpose', { agent_id: 'x1', agent_type: 'Explore' });
  const nested = start('x3', 'general-purpose');
  assert.deepEqual(nested.session_context?.session_hierarchy, ['main', 'x1', 'x3']);
  assert.equal(nested.session_context?.coordination_level, 2);
  assert.equal(nested.correlation?.task_delegation?.delegated_from, 'x1');
  const x1 = run(ctx, { ...s, hook_event_name: 'Stop', agent_id: 'x1', agent_type: 'Explore' });
  assert.equal(x1.agent_context?.agent_role, 'coordinator');
});

test('registry: seed format, clear errors, reloaded when the file changes, previous kept when invalid', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-registry-'));
  try {
    const file = join(dir, 'agents.yaml');
    const seed = [
      'workspace_id: enterprise-dev',
      'project_groups:',
      '  organization-alpha: [project]',
      'agents:',
      '  agent-001:',
      '    type: "primary"',
      '    projects: ["project-a", "project-b"]',
      '    loki_instance: "localhost:3101"',
      '    coordination_role: "coordinator"',
      '    group: dev-team-alpha',
      '  agent-002:',
      '    type: "secondary"',
      '    coordination_role: "participant"',
      '    coordination: sequential',
      '  Explore: {role: researcher}',
      '',
    ].join('\n');
    writeFileSync(file, seed);
    const logs: string[] = [];
    const watcher = new RegistryWatcher(file, (m) => logs.push(m), 1000);
    const ctx = context();
    attachAgentContext(ctx, new AgentContextDeriver({ registry: () => watcher.current() }));
    const base = fixturePayloads()[2]!;
    const e = run(ctx, { ...base, session_id: 'r1' }, { agent_id: 'agent-001' });
    assert.equal(e.agent_context?.agent_group, 'dev-team-alpha');
    assert.equal(e.agent_context?.agent_role, 'primary', 'the seed type is the role');
    assert.deepEqual(e.project_context, {
      project_group: 'organization-alpha',
      workspace_id: 'enterprise-dev',
    });
    const f = run(ctx, { ...base, session_id: 'r2' }, { agent_id: 'agent-002', agent_role: 'lead' });
    assert.equal(f.agent_context?.agent_role, 'lead', 'the environment wins over the registry');
    assert.equal(f.session_context?.coordination_mode, 'sequential');
    const sub = run(
      ctx,
      { ...base, session_id: 'r1', agent_id: 'e1', agent_type: 'Explore' },
      { agent_id: 'agent-001' },
    );
    assert.equal(sub.agent_context?.agent_role, 'researcher', 'registry entries may name a subagent type');
    assert.equal(sub.agent_context?.agent_group, 'dev-team-alpha', 'a subagent is in its top agent group');

    // Changed file: picked up at the next check, not before.
    writeFileSync(file, `${seed.replace('dev-team-alpha', 'team-beta')}# changed\n`);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const t0 = Date.now();
    assert.equal(
      watcher.current(t0 + 500).agents.get('agent-001')?.group,
      'dev-team-alpha',
      'not checked yet',
    );
    assert.equal(watcher.current(t0 + 5000).agents.get('agent-001')?.group, 'team-beta');
    // Invalid file: logged, the previous registry stays.
    writeFileSync(file, 'agents:\n  agent-001: {group: 5, colour: red}\n');
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    assert.equal(watcher.current(t0 + 10_000).agents.get('agent-001')?.group, 'team-beta');
    assert.match(logs.at(-1) ?? '', /agents\.yaml: agents\.agent-001/);
    // Removed: empty registry.
    rmSync(file);
    assert.equal(watcher.current(t0 + 20_000).agents.size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('registry validation names the key and the problem', () => {
  assert.throws(
    () => parseRegistry('agents:\n  a: {colour: red}\n'),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /agents\.a: .*colour/);
      return true;
    },
  );
  assert.throws(() => parseRegistry('agents:\n  a: {coordination: chaotic}\n'), /agents\.a\.coordination/);
  assert.throws(() => parseRegistry('agent: {}\n'), /\(top level\): .*agent/);
  assert.throws(() => parseRegistry('agents: [\n'), /not valid YAML/);
  assert.equal(parseRegistry('').agents.size, 0);
  assert.equal(parseRegistry('agents:\n  bare:\n').agents.has('bare'), true);
});

test('agents lists the host and the fleet identity of each agent (store over normalized events)', () => {
  const ctx = context();
  const base = fixturePayloads()[2]!;
  const events = [
    run(
      ctx,
      { ...base, session_id: 'f1' },
      { agent_id: 'agent-001', agent_group: 'alpha', workflow_id: 'wf' },
    ),
    run(
      ctx,
      { ...base, session_id: 'f1', agent_id: 'sub9', agent_type: 'Explore' },
      { agent_id: 'agent-001', agent_group: 'alpha', workflow_id: 'wf' },
    ),
    run(ctx, { ...base, session_id: 'plain' }),
  ];
  const store = Store.open(':memory:');
  try {
    store.insertBatch(events.map((event, i) => ({ event, auditSeq: i + 1 })));
    const list = listAgents(store, new Pricing());
    const by = (s: string, a: string) => list.find((x) => x.session_id === s && x.agent_id === a);
    assert.deepEqual(pick(by('f1', '')), {
      host: 'box',
      fleet_id: 'agent-001',
      agent_group: 'alpha',
      agent_role: 'primary',
      workflow_id: 'wf',
    });
    assert.deepEqual(pick(by('f1', 'sub9')), {
      host: 'box',
      fleet_id: 'agent-001',
      agent_group: 'alpha',
      agent_role: 'secondary',
      workflow_id: 'wf',
    });
    assert.deepEqual(pick(by('plain', '')), { host: 'box' }, 'a single agent has no fleet fields');
    assert.equal(sessionTree(store, new Pricing(), 'f1')?.host, 'box', 'tree --json names the host');
  } finally {
    store.close();
  }
});

function pick(a: AgentSummary | undefined) {
  assert.ok(a);
  const { host, fleet_id, agent_group, agent_role, workflow_id } = a;
  return Object.fromEntries(
    Object.entries({ host, fleet_id, agent_group, agent_role, workflow_id }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}
