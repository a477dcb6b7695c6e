/**
 * The fleet view across real collectors on loopback: b and c are peers of a (federation.instances), each has
 * its own events; `agents` and `conflicts` on a, a's API under /federated and a's dashboard list the union of
 * the three, each row naming its instance. Then c stops: the answers are partial and say why.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DataPaths } from '../../src/config/paths.ts';
import { cli, tempPaths, waitFor, writeSpoolFiles } from '../helpers.ts';

const a = tempPaths('ffleet-a');
const b = tempPaths('ffleet-b');
const c = tempPaths('ffleet-c');
const started: DataPaths[] = [];
const api: Record<string, string> = {};
let dashboard = '';

function statusOf(p: DataPaths) {
  const r = cli(p, ['status', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { api?: string; eventsStored: number };
}

/** Starts a collector (API and dashboard on free ports) on `events` spool files; returns its API URL once stored. */
async function startCollector(p: DataPaths, events: number, extraConfig = ''): Promise<string> {
  writeFileSync(p.config, `server:\n  port: 0\ndashboard:\n  port: 0\n${extraConfig}`);
  // Written before the start: the collector must not see a spool file half written.
  writeSpoolFiles(p, events);
  const r = cli(p, ['start']);
  assert.equal(r.status, 0, r.stderr);
  started.push(p);
  let url: string | undefined;
  const ready = await waitFor(() => {
    const s = statusOf(p);
    url = s.api;
    return url !== undefined && s.eventsStored === events;
  }, 30_000);
  assert.ok(ready && url, `collector at ${p.home} did not store its ${events} events`);
  return url;
}

before(async () => {
  api.b = await startCollector(b, 120);
  api.c = await startCollector(c, 80);
  const peers = `federation:\n  timeout_ms: 3000\n  instances:\n    - { name: b, url: "${api.b}" }\n    - { name: c, url: "${api.c}" }\n`;
  api.a = await startCollector(a, 160, peers);
  const run = JSON.parse(readFileSync(join(a.run, 'dashboard.json'), 'utf8')) as { url: string };
  dashboard = run.url;
});

after(() => {
  for (const p of started) cli(p, ['stop']);
  for (const p of [a, b, c]) rmSync(p.home, { recursive: true, force: true });
});

interface Agent {
  instance: string;
  host: string | null;
  session_id: string;
  agent_id: string;
  events: number;
  tool_calls: number;
  errors: number;
}
interface Report {
  name: string;
  ok: boolean;
  error?: string;
}
type Merged<K extends string, T> = Record<K, T[]> & { instances: Report[]; partial: boolean };

const agentKey = (x: Agent) =>
  `${x.instance} ${x.host} ${x.session_id}/${x.agent_id || 'main'} ${x.events} ${x.tool_calls} ${x.errors}`;

/** What each collector lists on its own, as the front names it. */
function localRows<T>(args: string[], members: [DataPaths, string][], key: (x: T) => string): string[] {
  return members
    .flatMap(([p, instance]) => {
      const r = cli(p, [...args, '--local', '--json']);
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as T[]).map((x) => key({ ...x, instance }));
    })
    .sort();
}

const ALL: [DataPaths, string][] = [
  [a, 'local'],
  [b, 'b'],
  [c, 'c'],
];

test('agents on the front: its own agents and both peers, each row with its host and instance', () => {
  const union = localRows<Agent>(['agents'], ALL, agentKey);
  assert.ok(union.length >= 9, `enough agents: ${union.length}`);
  const r = cli(a, ['agents', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const merged = JSON.parse(r.stdout) as Merged<'agents', Agent>;
  assert.equal(merged.partial, false);
  assert.deepEqual(
    merged.instances.map((i) => [i.name, i.ok]),
    [
      ['local', true],
      ['b', true],
      ['c', true],
    ],
  );
  assert.deepEqual(merged.agents.map(agentKey).sort(), union);
  assert.ok(
    merged.agents.every((x) => x.host),
    'every row keeps its host',
  );
  const table = cli(a, ['agents']);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^instance +session/);
  const local = cli(a, ['agents', '--local', '--json']);
  assert.equal(
    (JSON.parse(local.stdout) as Agent[]).length,
    union.filter((k) => k.startsWith('local ')).length,
  );
});

test('conflicts on the front: the union of what each collector finds', () => {
  const key = (x: {
    instance: string;
    kind: string;
    file_path: string;
    second: { session_id: string; ts: number };
  }) => `${x.instance} ${x.kind} ${x.file_path} ${x.second.session_id} ${x.second.ts}`;
  const union = localRows(['conflicts'], ALL, key);
  const r = cli(a, ['conflicts', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const merged = JSON.parse(r.stdout) as Merged<'conflicts', Parameters<typeof key>[0]>;
  assert.equal(merged.partial, false);
  assert.deepEqual(merged.conflicts.map(key).sort(), union);
});

test("the front's API and dashboard give the same merged agents", async () => {
  const union = localRows<Agent>(['agents'], ALL, agentKey);
  const fed = await fetch(`${api.a}/federated/api/fleet/agents`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(fed.status, 200);
  const body = (await fed.json()) as Merged<'agents', Agent>;
  assert.deepEqual(body.agents.map(agentKey).sort(), union);
  const end = Date.now() + 60_000;
  const dash = await fetch(`${dashboard}/api/dashboard/fleet?start=0&end=${end}&limit=5000`, {
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(dash.status, 200);
  const view = (await dash.json()) as Merged<'agents', Agent> & { agentsInRange: number };
  assert.equal(view.partial, false);
  assert.equal(view.agentsInRange, union.length);
  assert.deepEqual(view.agents.map(agentKey).sort(), union);
});

test('a peer stopped: partial, with its reason, and the rows of the others', async () => {
  assert.equal(cli(c, ['stop']).status, 0);
  const union = localRows<Agent>(['agents'], ALL.slice(0, 2), agentKey);
  const t = Date.now();
  const r = cli(a, ['agents', '--json']);
  assert.ok(Date.now() - t < 20_000, 'bounded by the peer time limit');
  assert.equal(r.status, 1, 'a peer failed, so the exit code says so');
  const merged = JSON.parse(r.stdout) as Merged<'agents', Agent>;
  assert.equal(merged.partial, true);
  const down = merged.instances.find((i) => i.name === 'c');
  assert.equal(down?.ok, false);
  assert.ok(down?.error, 'the reason is given');
  assert.deepEqual(merged.agents.map(agentKey).sort(), union);
  const table = cli(a, ['agents']);
  assert.equal(table.status, 1);
  assert.match(table.stderr, /instance c: FAILED: /);
  assert.match(table.stderr, /partial/);
  const dash = await fetch(`${dashboard}/api/dashboard/fleet?start=0&end=${Date.now() + 60_000}`, {
    signal: AbortSignal.timeout(15_000),
  });
  const view = (await dash.json()) as Merged<'agents', Agent>;
  assert.equal(view.partial, true);
  assert.equal(view.instances.find((i) => i.name === 'c')?.ok, false);
});
