/**
 * Agents benchmark (`npm run bench -- agents`):
 *  - visibility: a new agent's first hook call -> the agent listed by `agents` (listAgents on a reader of the
 *    store, polled every 1 ms), with the real hook and a running collector, p50/p95; plus how long the first
 *    event waits right after the collector starts, and what the `agents` command itself costs to start;
 *  - tree: the delegation tree of one 1,000-event workflow (main agent, 40 subagents, nested and parallel);
 *  - fleet query: `agents` over a store of 1M events from 12 fleet agents (BENCH_AGENTS_TOTAL to change).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AgentContextDeriver, attachAgentContext } from '../src/agents/context.ts';
import { listAgents, sessionTree } from '../src/agents/fleet.ts';
import { installHook } from '../src/capture/install.ts';
import { hookCommand } from '../src/capture/settings.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { type NormalizeContext, normalize, ScopeCache } from '../src/ingest/index.ts';
import { Store } from '../src/store/index.ts';
import type { FleetEnv, TelemetryEvent } from '../src/types.ts';
import { Pricing } from '../src/usage/pricing.ts';
import { openStoreWhenReady, startCollector, stopCollector } from './fleet.ts';
import { round, stats, tempHome } from './util.ts';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const PROJECT = '/home/dev/project';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fleetEnv(id: string): NodeJS.ProcessEnv {
  return {
    CLAUDE_TELEMETRY_AGENT_ID: id,
    CLAUDE_TELEMETRY_AGENT_GROUP: 'bench',
    CLAUDE_TELEMETRY_WORKFLOW_ID: 'wf-bench',
  };
}

function hook(paths: DataPaths, payload: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): void {
  spawnSync('sh', ['-c', hookCommand(paths.hook, 'project')], {
    input: JSON.stringify(payload),
    env: { PATH: process.env.PATH ?? '', CLAUDE_PROJECT_DIR: PROJECT, ...env },
  });
}

async function visibleWithin(
  store: Store,
  pricing: Pricing,
  match: (a: ReturnType<typeof listAgents>[number]) => boolean,
) {
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (listAgents(store, pricing, { since: Date.now() - 60_000 }).some(match)) return;
    if (performance.now() > deadline) throw new Error('agent not visible within 10 s');
    await sleep(1);
  }
}

/** New agents (fleet agents and subagents, alternately) -> listed by agents. */
async function visibility(samples: number) {
  const paths = tempHome('agents-vis');
  installHook(paths);
  const started = performance.now();
  const child = startCollector(paths);
  try {
    const warm = await openStoreWhenReady(paths);
    const afterStartMs = performance.now() - started;
    const pricing = new Pricing();
    const fromHook: number[] = [];
    const fromSpool: number[] = [];
    for (let i = 0; i < samples; i++) {
      const session = randomUUID();
      const fleet = i % 2 === 0;
      const id = fleet ? `vis-${i}` : `sub${i}`;
      const payload = fleet
        ? {
            session_id: session,
            cwd: PROJECT,
            hook_event_name: 'PreToolUse',
            tool_name: 'Bash',
            tool_input: { command: 'ls' },
          }
        : {
            session_id: session,
            cwd: PROJECT,
            hook_event_name: 'SubagentStart',
            agent_id: id,
            agent_type: 'Explore',
          };
      const t0 = performance.now();
      hook(paths, payload, fleet ? fleetEnv(id) : {});
      const t1 = performance.now();
      await visibleWithin(warm, pricing, (a) => (fleet ? a.fleet_id === id : a.agent_id === id));
      const t2 = performance.now();
      fromHook.push(t2 - t0);
      fromSpool.push(t2 - t1);
      await sleep(20 + (i % 7) * 5);
    }
    warm.close();
    // The command a user runs: process start, store open, query, print.
    const command: number[] = [];
    if (existsSync(CLI))
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const r = spawnSync(process.execPath, [CLI, 'agents', '--json'], {
          env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`agents exited ${r.status}: ${r.stderr}`);
        command.push(performance.now() - t);
      }
    return {
      hookToVisibleMs: stats(fromHook),
      spoolToVisibleMs: stats(fromSpool),
      firstEventAfterCollectorStartMs: round(afterStartMs, 0),
      ...(command.length > 0 ? { agentsCommandMs: stats(command) } : {}),
    };
  } finally {
    await stopCollector(child);
    rmSync(paths.home, { recursive: true, force: true });
  }
}

export function context(): NormalizeContext {
  const ctx: NormalizeContext = {
    user: 'dev',
    host: hostname(),
    telemetryVersion: '0',
    capture: 'metadata',
    scopeCache: new ScopeCache(),
  };
  attachAgentContext(ctx, new AgentContextDeriver());
  return ctx;
}

let counter = 0;
function event(
  ctx: NormalizeContext,
  ts: number,
  payload: Record<string, unknown>,
  fleet?: FleetEnv,
): TelemetryEvent {
  counter++;
  return normalize(
    {
      name: `${counter}.b${counter}.project`,
      path: '',
      mtimeMs: ts,
      scope: 'project',
      projectDir: PROJECT,
      body: Buffer.from(JSON.stringify({ cwd: PROJECT, ...payload })),
      ...(fleet ? { fleet } : {}),
    },
    ctx,
  );
}

/**
 * One session's events: a main agent launching `subagents` subagents (every third in the background, every
 * fifth launched by the previous subagent), each doing tool calls, to `total` events in all.
 */
export function workflow(
  ctx: NormalizeContext,
  session: string,
  t0: number,
  total: number,
  subagents: number,
  fleet?: FleetEnv,
) {
  const out: TelemetryEvent[] = [];
  let t = t0;
  const push = (p: Record<string, unknown>) => {
    t += 10;
    out.push(event(ctx, t, { session_id: session, ...p }, fleet));
  };
  push({ hook_event_name: 'SessionStart', source: 'startup' });
  push({ hook_event_name: 'UserPromptSubmit', prompt: 'go' });
  const perSub = Math.max(1, Math.floor((total - 3 - subagents * 5) / (subagents + 1) / 2));
  const calls = (agent: string | undefined, n: number) => {
    for (let k = 0; k < n; k++) {
      const tool = {
        tool_name: 'Read',
        tool_input: { file_path: `${PROJECT}/f${k % 9}.ts` },
        tool_use_id: `t${counter}`,
      };
      const who = agent ? { agent_id: agent, agent_type: 'Explore' } : {};
      push({ hook_event_name: 'PreToolUse', ...tool, ...who });
      push({ hook_event_name: 'PostToolUse', ...tool, tool_response: {}, ...who });
    }
  };
  calls(undefined, perSub);
  let prev: string | undefined;
  for (let i = 0; i < subagents; i++) {
    const id = `s${i}x${session.slice(0, 6)}`;
    const from = i % 5 === 4 ? prev : undefined;
    const launch = `launch${i}`;
    const input = {
      description: `task ${i}`,
      prompt: 'p',
      subagent_type: 'Explore',
      run_in_background: i % 3 === 0,
    };
    const caller = from ? { agent_id: from, agent_type: 'Explore' } : {};
    push({
      hook_event_name: 'PreToolUse',
      tool_name: 'Agent',
      tool_input: input,
      tool_use_id: launch,
      ...caller,
    });
    push({ hook_event_name: 'SubagentStart', agent_id: id, agent_type: 'Explore' });
    calls(id, perSub);
    push({ hook_event_name: 'SubagentStop', agent_id: id, agent_type: 'Explore' });
    push({
      hook_event_name: 'PostToolUse',
      tool_name: 'Agent',
      tool_input: input,
      tool_response: { status: 'completed', agentId: id },
      tool_use_id: launch,
      ...caller,
    });
    prev = id;
  }
  while (out.length < total - 1) push({ hook_event_name: 'Notification', message: 'idle' });
  push({ hook_event_name: 'SessionEnd', reason: 'other' });
  return out;
}

export function treeBench() {
  const store = Store.open(':memory:');
  try {
    const ctx = context();
    const session = randomUUID();
    const evs = workflow(ctx, session, Date.now() - 3_600_000, 1_000, 40);
    store.insertBatch(evs.map((event, i) => ({ event, auditSeq: i + 1 })));
    const pricing = new Pricing();
    const lat: number[] = [];
    let agents = 0;
    for (let i = 0; i < 40; i++) {
      const t = performance.now();
      const tree = sessionTree(store, pricing, session);
      lat.push(performance.now() - t);
      agents = tree?.agents ?? 0;
    }
    return { events: evs.length, agents, treeMs: stats(lat.slice(5)) };
  } finally {
    store.close();
  }
}

/** `agents` over `total` events: 12 fleet agents, sessions of 1,000 events with 10 subagents each. */
export function fleetQueryBench(total: number) {
  const paths = tempHome('agents-1m');
  const store = Store.open(paths.storeFile);
  try {
    const ctx = context();
    // One normalized workflow per fleet agent, cloned into fresh sessions (normalizing 1M events would
    // measure normalize, not the query).
    const templates = Array.from({ length: 12 }, (_, k) =>
      workflow(ctx, randomUUID(), 0, 1_000, 10, {
        agent_id: `agent-${k}`,
        agent_group: `team-${k % 3}`,
        workflow_id: 'wf',
      }),
    );
    const build0 = performance.now();
    const t0 = Date.now() - total * 2;
    let seq = 0;
    for (let s = 0; seq < total; s++) {
      const template = templates[s % templates.length] as TelemetryEvent[];
      const session = randomUUID();
      const rows = template.map((e) => ({
        event: {
          ...e,
          id: randomUUID().replaceAll('-', ''),
          session_id: session,
          timestamp: new Date(t0 + seq * 2).toISOString(),
          ...(e.session_context ? { session_context: { ...e.session_context, session_id: session } } : {}),
        },
        auditSeq: ++seq,
      }));
      store.insertBatch(rows);
    }
    const buildSec = (performance.now() - build0) / 1000;
    const pricing = new Pricing();
    const lat: number[] = [];
    let listed = 0;
    let fleetAgents = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const list = listAgents(store, pricing);
      lat.push(performance.now() - t);
      listed = list.length;
      fleetAgents = new Set(list.map((a) => a.fleet_id).filter(Boolean)).size;
    }
    return {
      events: seq,
      buildSec: round(buildSec, 1),
      agentsListed: listed,
      fleetAgents,
      agentsQueryMs: stats(lat),
    };
  } finally {
    store.close();
    rmSync(paths.home, { recursive: true, force: true });
  }
}

export async function runAgentsBench() {
  const vis = await visibility(Number(process.env.BENCH_AGENTS_SAMPLES ?? 100));
  const tree = treeBench();
  const fleet = fleetQueryBench(Number(process.env.BENCH_AGENTS_TOTAL ?? 1_000_000));
  return { visibility: vis, tree, fleetQuery: fleet };
}
