/**
 * A fleet of concurrent agents through the real capture hook into a real collector: each agent is a
 * separately started "Claude Code" with its own CLAUDE_TELEMETRY_AGENT_ID (group, role, one shared workflow),
 * firing hook calls (`sh -c <registered command>`, payload on stdin) as fast as its think time allows:
 * reads and writes of its own files, shell commands, and now and then a subagent (Agent call, SubagentStart,
 * the subagent's tool calls, SubagentStop). Every few seconds two conflicts are planted on purpose: two agents
 * write one file, and one agent reads a file another has just written.
 *
 * Afterwards: every hook call is stored exactly once (each payload carries a unique tool_use_id), the agents
 * view lists every fleet agent, `conflicts` finds exactly the planted conflicts, and the collector raised them
 * as alerts. `runFleet` is shared by the integration test (short) and `npm run bench -- fleet` (5 minutes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findConflicts, listAgents } from '../src/agents/fleet.ts';
import { installHook } from '../src/capture/install.ts';
import { hookCommand } from '../src/capture/settings.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { readAlerts } from '../src/detect/alerts.ts';
import { Store } from '../src/store/index.ts';
import { Pricing } from '../src/usage/pricing.ts';
import { stats, tempHome } from './util.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PROJECT = '/home/dev/fleet-project';

export interface FleetOptions {
  agents?: number;
  durationMs?: number;
  /** Pause between two hook calls of one agent. */
  thinkMs?: number;
  /** A pair of conflicts is planted this often. */
  plantEveryMs?: number;
  log?: (msg: string) => void;
}

export interface FleetResult {
  agents: number;
  durationMs: number;
  hookCalls: number;
  hookCallsPerSec: number;
  hookFailures: number;
  stored: number;
  /** Hook calls with no stored event. */
  lost: number;
  /** Hook calls stored more than once. */
  duplicated: number;
  /** Fleet agents (CLAUDE_TELEMETRY_AGENT_ID) the agents view shows, and subagents it shows. */
  fleetAgentsListed: number;
  subagentsListed: number;
  subagentsStarted: number;
  plantedConflicts: number;
  conflictsFound: number;
  /** Conflicts found that were not planted (should be 0). */
  unexpectedConflicts: number;
  plantedFound: number;
  conflictAlerts: number;
  /** Hook call (as Claude Code pays it) in ms. */
  hookMs: ReturnType<typeof stats>;
  /** Last hook call -> everything stored. */
  drainMs: number;
  spoolLeft: number;
}

function runHook(paths: DataPaths, env: NodeJS.ProcessEnv, payload: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', hookCommand(paths.hook, 'project')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLAUDE_PROJECT_DIR: PROJECT, ...env },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => resolve(-1));
    child.on('close', (code) => resolve(code ?? -1));
    child.stdin.end(payload);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A collector from the sources, in the foreground, on its own data dir (API and dashboard on free ports). */
export function startCollector(paths: DataPaths): ChildProcess {
  writeFileSync(paths.config, 'server: {port: 0}\ndashboard: {port: 0}\n');
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--foreground'], {
    cwd: REPO,
    env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function stopCollector(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await done;
  clearTimeout(timer);
}

/** Opens the collector's store read-only once it exists and has taken a first event. */
export async function openStoreWhenReady(paths: DataPaths, timeoutMs = 60_000): Promise<Store> {
  const end = Date.now() + timeoutMs;
  const probe = JSON.stringify({ session_id: 'probe', hook_event_name: 'Notification', cwd: PROJECT });
  await runHook(paths, {}, probe);
  while (Date.now() < end) {
    try {
      const store = Store.open(paths.storeFile, { readonly: true });
      if (store.select(`SELECT 1 FROM events WHERE session_id = 'probe'`).get()) return store;
      store.close();
    } catch {
      // not created yet
    }
    await sleep(50);
  }
  throw new Error('collector did not store its first event in time');
}

interface Agent {
  id: string;
  env: NodeJS.ProcessEnv;
  session: string;
  n: number;
}

export async function runFleet(paths: DataPaths, opts: FleetOptions = {}): Promise<FleetResult> {
  const agents = opts.agents ?? 12;
  const durationMs = opts.durationMs ?? 20_000;
  const thinkMs = opts.thinkMs ?? 20;
  const plantEveryMs = opts.plantEveryMs ?? 4_000;
  const log = opts.log ?? (() => {});
  /** tool_use_id -> hook calls that carry it (2 for an Agent call: its PreToolUse and its PostToolUse). */
  const sent = new Map<string, number>();
  let calls = 0;
  const hookLat: number[] = [];
  let failures = 0;
  let subagents = 0;
  const call = async (a: Agent, payload: Record<string, unknown>, reuse?: string) => {
    const mark = reuse ?? `${a.id}-${a.n++}`;
    sent.set(mark, (sent.get(mark) ?? 0) + 1);
    calls++;
    const body = JSON.stringify({ session_id: a.session, cwd: PROJECT, tool_use_id: mark, ...payload });
    const t = performance.now();
    const code = await runHook(paths, a.env, body);
    hookLat.push(performance.now() - t);
    if (code !== 0) failures++;
    return mark;
  };
  const tool = (
    a: Agent,
    name: string,
    input: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => call(a, { hook_event_name: 'PreToolUse', tool_name: name, tool_input: input, ...extra });
  const fleet: Agent[] = [];
  for (let i = 0; i < agents; i++) {
    const id = `agent-${String(i).padStart(2, '0')}`;
    fleet.push({
      id,
      session: randomUUID(),
      n: 0,
      env: {
        CLAUDE_TELEMETRY_AGENT_ID: id,
        CLAUDE_TELEMETRY_AGENT_GROUP: `team-${i % 3}`,
        CLAUDE_TELEMETRY_AGENT_ROLE: i === 0 ? 'coordinator' : 'worker',
        CLAUDE_TELEMETRY_WORKFLOW_ID: 'wf-fleet',
      },
    });
  }

  const t0 = performance.now();
  const end = t0 + durationMs;
  const loop = async (a: Agent, k: number) => {
    await call(a, { hook_event_name: 'SessionStart', source: 'startup' });
    let step = 0;
    while (performance.now() < end) {
      step++;
      const own = `${PROJECT}/${a.id}/file-${step % 5}.ts`;
      await tool(a, 'Write', { file_path: own, content: `v${step}` });
      await tool(a, 'Read', { file_path: own });
      await tool(a, 'Bash', { command: `echo ${a.id} ${step}` });
      if (step % 10 === k % 10) {
        // A subagent: launched, started, one tool call on its own file, stopped, answered.
        const sub = `${a.id.replace('agent-', 'sub')}x${step}`;
        subagents++;
        const launch = await tool(a, 'Agent', { description: 'look', prompt: 'p', subagent_type: 'Explore' });
        await call(a, { hook_event_name: 'SubagentStart', agent_id: sub, agent_type: 'Explore' });
        await tool(
          a,
          'Read',
          { file_path: `${PROJECT}/${a.id}/sub/${sub}.md` },
          { agent_id: sub, agent_type: 'Explore' },
        );
        await call(a, { hook_event_name: 'SubagentStop', agent_id: sub, agent_type: 'Explore' });
        await call(
          a,
          {
            hook_event_name: 'PostToolUse',
            tool_name: 'Agent',
            tool_input: { description: 'look', prompt: 'p', subagent_type: 'Explore' },
            tool_response: { status: 'completed', agentId: sub },
          },
          launch,
        );
      }
      await sleep(thinkMs);
    }
    await call(a, { hook_event_name: 'SessionEnd', reason: 'other' });
  };
  const planted: { file: string; kind: 'write-write' | 'read-write'; first: string; second: string }[] = [];
  const plant = async () => {
    let round = 0;
    while (performance.now() + plantEveryMs / 2 < end) {
      await sleep(plantEveryMs / 2);
      const [a, b, c, d] = [0, 1, 2, 3].map((j) => fleet[(round * 4 + j) % agents] as Agent) as [
        Agent,
        Agent,
        Agent,
        Agent,
      ];
      const ww = `${PROJECT}/shared/planted-ww-${round}.ts`;
      const rw = `${PROJECT}/shared/planted-rw-${round}.ts`;
      await tool(a, 'Write', { file_path: ww, content: 'a' });
      await tool(b, 'Edit', { file_path: ww, old_string: 'a', new_string: 'b' });
      await tool(c, 'Write', { file_path: rw, content: 'c' });
      await tool(d, 'Read', { file_path: rw });
      planted.push({ file: ww, kind: 'write-write', first: a.session, second: b.session });
      planted.push({ file: rw, kind: 'read-write', first: c.session, second: d.session });
      round++;
      await sleep(plantEveryMs / 2);
    }
  };
  await Promise.all([...fleet.map((a, k) => loop(a, k)), plant()]);
  const lastCall = performance.now();
  log(`fleet: ${calls} hook calls in ${Math.round(lastCall - t0)} ms, waiting for the collector`);

  // Everything stored: the spool empty and every mark in the store.
  const store = Store.open(paths.storeFile, { readonly: true });
  try {
    const count = store.select(
      `SELECT count(*) AS n FROM events WHERE tool_use_id LIKE 'agent-%' AND session_id != 'probe'`,
    );
    const deadline = Date.now() + 120_000;
    let spoolLeft = readdirSync(paths.spoolNew).length;
    while (Date.now() < deadline) {
      spoolLeft = readdirSync(paths.spoolNew).length;
      if (spoolLeft === 0 && (count.get() as { n: number }).n >= calls) break;
      await sleep(50);
    }
    const drainMs = performance.now() - lastCall;
    await sleep(300); // a late duplicate would show up by now
    const rows = store
      .select(
        `SELECT tool_use_id AS m, count(*) AS n FROM events WHERE tool_use_id LIKE 'agent-%' GROUP BY tool_use_id`,
      )
      .all() as { m: string; n: number }[];
    const storedMarks = new Map(rows.map((r) => [r.m, r.n]));
    let lost = 0;
    let duplicated = 0;
    let stored = 0;
    for (const [m, want] of sent) {
      const got = storedMarks.get(m) ?? 0;
      if (got < want) lost += want - got;
      if (got > want) duplicated += got - want;
    }
    for (const [m, n] of storedMarks) {
      stored += n;
      if (!sent.has(m)) duplicated += n;
    }
    const list = listAgents(store, new Pricing());
    const fleetIds = new Set(list.filter((x) => x.agent_id === '' && x.fleet_id).map((x) => x.fleet_id));
    const subs = list.filter((x) => x.agent_id !== '' && x.fleet_id).length;
    const found = findConflicts(store);
    const key = (file: string, kind: string) => `${file}\n${kind}`;
    const plantedKeys = new Set(planted.map((p) => key(p.file, p.kind)));
    const foundKeys = new Set(found.map((c) => key(c.file_path, c.kind)));
    const alerts = readAlerts(paths.home).filter((a) => a.rule.startsWith('agent-file-conflict'));
    return {
      agents,
      durationMs: Math.round(lastCall - t0),
      hookCalls: calls,
      hookCallsPerSec: Math.round((calls / (lastCall - t0)) * 1000),
      hookFailures: failures,
      stored,
      lost,
      duplicated,
      fleetAgentsListed: fleetIds.size,
      subagentsListed: subs,
      subagentsStarted: subagents,
      plantedConflicts: planted.length,
      conflictsFound: found.length,
      unexpectedConflicts: [...foundKeys].filter((k) => !plantedKeys.has(k)).length,
      plantedFound: [...plantedKeys].filter((k) => foundKeys.has(k)).length,
      conflictAlerts: alerts.length,
      hookMs: stats(hookLat),
      drainMs: Math.round(drainMs),
      spoolLeft,
    };
  } finally {
    store.close();
  }
}

/** `npm run bench -- fleet`: 12 agents for 5 minutes (BENCH_FLEET_SECONDS to change). */
export async function runFleetBench() {
  const paths = tempHome('fleet');
  installHook(paths);
  const child = startCollector(paths);
  try {
    (await openStoreWhenReady(paths)).close();
    return await runFleet(paths, {
      durationMs: Number(process.env.BENCH_FLEET_SECONDS ?? 300) * 1000,
      log: (m) => process.stderr.write(`${m}\n`),
    });
  } finally {
    await stopCollector(child);
    rmSync(paths.home, { recursive: true, force: true });
  }
}
