/**
 * The fleet across collectors, in one process: API servers on 127.0.0.1 (port 0) over in-memory stores, a
 * front that merges its own agents and conflicts with theirs, and the ways a peer can fail (down, slow, not a
 * collector, the front itself).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  FLEET_AGENTS_PATH,
  fleetAgents,
  fleetConflicts,
  LOCAL_INSTANCE,
  localAgents,
  parseFleetParams,
} from '../../src/agents/federated.ts';
import { type FileConflict, findConflicts, listAgents } from '../../src/agents/fleet.ts';
import { Federation } from '../../src/query/federation.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { DEFAULT_FORWARDING, type FederationInstanceConfig } from '../../src/sinks/config.ts';
import { Store } from '../../src/store/index.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { fill, T0 } from '../fleet-helpers.ts';

const pricing = new Pricing();
const refuse = {
  ingestEvents() {
    throw new Error('no pushes in this test');
  },
};

function peer(name: string, url: string): FederationInstanceConfig {
  return { name, url, auth: { type: 'none' }, headers: {} };
}

function federation(instances: FederationInstanceConfig[], timeoutMs = 5_000): Federation {
  return new Federation({ ...DEFAULT_FORWARDING.federation, instances, timeoutMs });
}

const key = (a: {
  instance: string;
  session_id: string;
  agent_id: string;
  events: number;
  host: string | null;
}) => `${a.instance} ${a.host} ${a.session_id}/${a.agent_id || 'main'} ${a.events}`;

describe('fleet across collectors', () => {
  const front = Store.open(':memory:');
  const other = Store.open(':memory:');
  const servers: ApiServer[] = [];
  let stalled: Server;
  const url: Record<string, string> = {};

  before(async () => {
    fill(front, 'laptop');
    fill(other, 'buildbox');
    for (const [name, store] of [
      ['front', front],
      ['other', other],
    ] as const) {
      const api = await startApiServer({ store, pipeline: refuse, host: '127.0.0.1', port: 0 });
      servers.push(api);
      url[name] = api.url;
    }
    // Under /plain it answers 200 with text, not a collector's JSON; anything else it never answers: only the
    // time limit ends the request.
    stalled = createServer((req, res) => {
      if (req.url?.startsWith('/plain/')) res.end('hello');
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    url.stalled = `http://127.0.0.1:${(stalled.address() as { port: number }).port}`;
    // A port nothing listens on: the server stops and its port stays free.
    const gone = await startApiServer({ store: other, pipeline: refuse, host: '127.0.0.1', port: 0 });
    url.down = gone.url;
    await gone.close();
  });

  after(async () => {
    for (const s of servers) await s.close();
    stalled.closeAllConnections();
    await new Promise((r) => stalled.close(r));
    front.close();
    other.close();
  });

  test("an instance answers for its own store: the same agents as listAgents, with the store's id", async () => {
    const res = await fetch(`${url.other}${FLEET_AGENTS_PATH}`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { store_id: string; agents: { session_id: string }[] };
    assert.equal(body.store_id, localAgents({ store: other, pricing }, {}).store_id);
    assert.deepEqual(body.agents, JSON.parse(JSON.stringify(listAgents(other, pricing))));
    const bad = await fetch(`${url.other}${FLEET_AGENTS_PATH}?since=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /since must be a number of ms/);
  });

  test('merged: this collector and its peer, every row with its host and instance', async () => {
    const r = await fleetAgents({ store: front, pricing }, federation([peer('build', url.other!)]), {});
    assert.equal(r.partial, false);
    assert.deepEqual(
      r.instances.map((i) => [i.name, i.ok]),
      [
        [LOCAL_INSTANCE, true],
        ['build', true],
      ],
    );
    const union = [
      ...listAgents(front, pricing).map((a) => ({ ...a, instance: LOCAL_INSTANCE })),
      ...listAgents(other, pricing).map((a) => ({ ...a, instance: 'build' })),
    ];
    assert.deepEqual(r.rows.map(key).sort(), union.map(key).sort());
    assert.ok(r.rows.some((a) => a.host === 'buildbox') && r.rows.some((a) => a.host === 'laptop'));
    for (let i = 1; i < r.rows.length; i++)
      assert.ok((r.rows[i - 1]!.last_ts ?? 0) >= (r.rows[i]!.last_ts ?? 0), 'most recently active first');
  });

  test('a peer down, a peer too slow and a peer that is no collector: partial, each with its reason', async () => {
    const r = await fleetAgents(
      { store: front, pricing },
      federation(
        [
          peer('build', url.other!),
          peer('down', url.down!),
          peer('slow', url.stalled!),
          peer('loki', url.other!),
        ],
        800,
      ),
      {},
    );
    assert.equal(r.partial, true);
    const by = Object.fromEntries(r.instances.map((i) => [i.name, i]));
    assert.equal(by.build?.ok, true);
    assert.equal(by.down?.ok, false);
    assert.ok(by.down?.error);
    assert.equal(by.slow?.ok, false);
    assert.match(by.slow?.error ?? '', /800 ms|time/i);
    assert.ok((by.slow?.ms ?? 0) < 5_000, 'bounded by the time limit');
    // The same store listed twice counts once, and says so.
    assert.match(by.loki?.note ?? '', /same store as build/);
    assert.deepEqual(
      [...new Set(r.rows.map((a) => a.instance))].sort(),
      ['build', LOCAL_INSTANCE].sort(),
      'the rows of the instances that answered',
    );
    const wrong = await fleetAgents(
      { store: front, pricing },
      federation([peer('wrong', `${url.stalled}/plain`)]),
      {},
    );
    assert.equal(wrong.instances[1]?.ok, false);
    assert.match(wrong.instances[1]?.error ?? '', /unexpected response/);
  });

  test('a collector listing itself is not counted twice', async () => {
    const r = await fleetAgents({ store: front, pricing }, federation([peer('me', url.front!)]), {});
    assert.equal(r.partial, false);
    assert.match(r.instances[1]?.note ?? '', new RegExp(`same store as ${LOCAL_INSTANCE}`));
    assert.equal(r.rows.length, listAgents(front, pricing).length);
  });

  test('conflicts merge the same way, each found within its instance', async () => {
    const r = await fleetConflicts({ store: front, pricing }, federation([peer('build', url.other!)]), {});
    assert.equal(r.partial, false);
    const row = (instance: string) => (c: FileConflict) =>
      `${instance} ${c.kind} ${c.file_path} ${c.first.session_id} ${c.second.session_id} ${c.second.ts}`;
    const union = [
      ...findConflicts(front).map(row(LOCAL_INSTANCE)),
      ...findConflicts(other).map(row('build')),
    ];
    assert.deepEqual(r.rows.map((c) => row(c.instance)(c)).sort(), union.sort());
    for (const planted of [
      'build write-write /home/dev/project/shared-buildbox.ts',
      'local write-write /home/dev/project/shared-laptop.ts',
    ])
      assert.ok(
        union.some((u) => u.startsWith(planted)),
        planted,
      );
  });

  test('the front serves the merged answers under /federated', async () => {
    const api = await startApiServer({
      store: front,
      pipeline: refuse,
      host: '127.0.0.1',
      port: 0,
      federation: federation([peer('build', url.other!), peer('down', url.down!)], 1_000),
    });
    try {
      const res = await fetch(`${api.url}/federated${FLEET_AGENTS_PATH}?since=${T0 - 1}`, {
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        agents: { instance: string }[];
        instances: { name: string; ok: boolean; error?: string }[];
        partial: boolean;
      };
      assert.equal(body.partial, true);
      assert.deepEqual(
        body.instances.map((i) => [i.name, i.ok]),
        [
          [LOCAL_INSTANCE, true],
          ['build', true],
          ['down', false],
        ],
      );
      assert.equal(body.agents.length, listAgents(front, pricing).length + listAgents(other, pricing).length);
    } finally {
      await api.close();
    }
  });
});

test('fleet parameters: numbers of ms, anything else refused', () => {
  assert.deepEqual(parseFleetParams(new URLSearchParams('since=5&until=9&window_ms=30000')), {
    since: 5,
    until: 9,
    windowMs: 30_000,
  });
  assert.throws(() => parseFleetParams(new URLSearchParams('until=-1')), /until must be a number/);
});
