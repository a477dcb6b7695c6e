/**
 * Forwarding sinks against local receivers on 127.0.0.1: the Loki wire format checked byte for byte with a
 * decoder written from the specs (not the encoder under test), headers, a remote that is down then failing
 * then back, poison entries, routing, OTLP shape, cursor persistence and a bounded stop.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type AuditLog, canonicalJson } from '../../src/audit/index.ts';
import { DEFAULT_SINK_SETTINGS, type SinkConfig } from '../../src/sinks/config.ts';
import { type RunningSinks, readCursor, sinksDir, startSinks } from '../../src/sinks/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { sleep, waitFor } from '../helpers.ts';
import { freePort, type ReceivedRequest, type Receiver, startReceiver } from '../http-receiver.ts';
import { fixtureEvents, tempAudit } from '../telemetry-events.ts';
import {
  fieldsNamed,
  type PbField,
  pbBytes,
  pbString,
  pbVarint,
  readFields,
  unsnappy,
} from '../wire-by-hand.ts';

const homes: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

function setup(tag: string): { home: string; audit: AuditLog } {
  const t = tempAudit(tag);
  homes.push(t.home);
  cleanups.push(async () => t.audit.close());
  return t;
}

function sinkConfig(over: Partial<SinkConfig> & Pick<SinkConfig, 'url'>): SinkConfig {
  return {
    type: 'loki',
    name: 'remote',
    auth: { type: 'none' },
    headers: {},
    ...DEFAULT_SINK_SETTINGS,
    batchWaitMs: 30,
    minBackoffMs: 20,
    maxBackoffMs: 150,
    timeoutMs: 2_000,
    ...over,
  };
}

async function receiver(respond: Parameters<typeof startReceiver>[0], port?: number): Promise<Receiver> {
  const r = await startReceiver(respond, port);
  cleanups.push(() => r.close());
  return r;
}

async function run(home: string, sinks: SinkConfig[], audit: AuditLog, routes = []): Promise<RunningSinks> {
  const running = await startSinks({ home }, { sinks, routes }, audit, () => {}, { random: () => 0.5 });
  cleanups.push(() => running.stop(200));
  return running;
}

const str = (v: PbField['value'] | undefined): string => (v as Buffer).toString('utf8');

/** Event ids of every entry of a Loki protobuf+snappy push, in request order, decoded by hand. */
function lokiIds(req: ReceivedRequest): string[] {
  const ids: string[] = [];
  for (const stream of fieldsNamed(readFields(unsnappy(req.body)), 1)) {
    for (const entry of fieldsNamed(readFields(stream as Buffer), 2)) {
      const line = str(fieldsNamed(readFields(entry as Buffer), 2)[0]);
      ids.push((JSON.parse(line) as TelemetryEvent).id);
    }
  }
  return ids;
}

/**
 * Ids of the accepted pushes, each request's entries put in audit order (a push groups entries by stream),
 * so that "each once, in order" means: requests cover consecutive, non-overlapping runs of the log.
 */
function deliveredInLogOrder(r: Receiver, all: TelemetryEvent[]): string[] {
  const position = new Map(all.map((e, i) => [e.id, i]));
  return r.accepted.flatMap((req) => lokiIds(req).sort((x, y) => position.get(x)! - position.get(y)!));
}

function fixedEvent(over: Partial<TelemetryEvent>): TelemetryEvent {
  return {
    id: 'a1',
    timestamp: '2026-01-05T09:00:00.250Z',
    level: 'INFO',
    event_type: 'command_execution',
    hook_event: 'PreToolUse',
    session_id: 's-1',
    project_path: '/home/dev/web',
    project_name: 'web',
    tool_name: 'Bash',
    tool_use_id: 'toolu_1',
    action_details: { command: 'ls' },
    metadata: { telemetry_version: '0.1.0', user_id: 'dev', host: 'box', scope: 'project' },
    raw_input: { hook_event_name: 'PreToolUse' },
    ...over,
  };
}

describe('Loki sink', () => {
  it('pushes protobuf+snappy that matches a hand-built PushRequest byte for byte, with tenant and auth', async () => {
    const { home, audit } = setup('loki-wire');
    const r = await receiver(() => ({ status: 204 }));
    const a = fixedEvent({});
    const b = fixedEvent({ id: 'a2', timestamp: '2026-01-05T09:00:01.000Z', tool_use_id: 'toolu_2' });
    const c = fixedEvent({
      id: 'a3',
      timestamp: '2026-01-05T09:00:00.500Z',
      level: 'WARN',
      event_type: 'file_read',
      tool_name: 'Read',
      tool_use_id: undefined,
      agent_id: 'ag-7',
      action_details: { file_path: '/etc/hosts', outside_project_scope: true },
    });
    audit.append([a, b, c]);
    const sinks = await run(
      home,
      [
        sinkConfig({
          url: `${r.url}/`,
          tenant: 'team-a',
          auth: { type: 'basic', username: 'u', password: 'p' },
        }),
      ],
      audit,
    );
    assert.ok(await waitFor(() => r.accepted.length === 1, 5_000), 'one push');
    const req = r.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/loki/api/v1/push');
    assert.equal(req.headers['content-type'], 'application/x-protobuf');
    assert.equal(req.headers['content-encoding'], undefined, 'snappy is implied, not a Content-Encoding');
    assert.equal(req.headers['x-scope-orgid'], 'team-a');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);

    const pair = (k: string, v: string) => pbBytes(3, Buffer.concat([pbString(1, k), pbString(2, v)]));
    const entry = (e: TelemetryEvent, metadata: [string, string][]) => {
      const ms = Date.parse(e.timestamp);
      // proto3 leaves zero-valued fields out (b's nanos are 0).
      const nanos = (ms % 1000) * 1_000_000;
      const ts = Buffer.concat([
        pbVarint(1, Math.floor(ms / 1000)),
        nanos ? pbVarint(2, nanos) : Buffer.alloc(0),
      ]);
      return pbBytes(
        2,
        Buffer.concat([
          pbBytes(1, ts),
          pbString(2, canonicalJson(e)),
          ...metadata.map(([k, v]) => pair(k, v)),
        ]),
      );
    };
    const common = (e: TelemetryEvent): [string, string][] => [
      ['session_id', 's-1'],
      ['tool', e.tool_name!],
      ...(e.tool_use_id ? [['tool_use_id', e.tool_use_id] as [string, string]] : []),
      ...(e.agent_id ? [['agent_id', e.agent_id] as [string, string]] : []),
      ['hook_event', 'PreToolUse'],
      ['scope', 'project'],
      ['outside_project_scope', e.action_details.outside_project_scope ? 'true' : 'false'],
      ['user', 'dev'],
    ];
    const expected = Buffer.concat([
      pbBytes(
        1,
        Buffer.concat([
          pbString(
            1,
            '{event_type="command_execution", host="box", level="INFO", project="web", service="claude-telemetry"}',
          ),
          entry(a, common(a)),
          entry(b, common(b)),
        ]),
      ),
      pbBytes(
        1,
        Buffer.concat([
          pbString(
            1,
            '{event_type="file_read", host="box", level="WARN", project="web", service="claude-telemetry"}',
          ),
          entry(c, common(c)),
        ]),
      ),
    ]);
    assert.deepEqual(unsnappy(req.body), expected);
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 3, 2_000));
    const st = sinks.status()[0]!;
    assert.equal(st.lagEntries, 0);
    assert.equal(st.sent, 3);
    assert.ok(st.lastSuccessAt);
    assert.equal(await readCursor(join(sinksDir({ home }), 'remote.cursor')), 3);
  });

  it('pushes JSON+gzip with a bearer token when asked', async () => {
    const { home, audit } = setup('loki-json');
    const r = await receiver(() => ({ status: 204 }));
    const events = fixtureEvents(5);
    audit.append(events);
    await run(
      home,
      [sinkConfig({ url: r.url, encoding: 'json', auth: { type: 'bearer', token: 'tok' } })],
      audit,
    );
    assert.ok(await waitFor(() => r.accepted.length === 1, 5_000));
    const req = r.requests[0]!;
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['content-encoding'], 'gzip');
    assert.equal(req.headers.authorization, 'Bearer tok');
    const body = JSON.parse(gunzipSync(req.body).toString('utf8')) as {
      streams: { stream: Record<string, string>; values: [string, string, Record<string, string>][] }[];
    };
    const values = body.streams.flatMap((s) => s.values);
    assert.deepEqual(
      values.map((v) => (JSON.parse(v[1]) as TelemetryEvent).id).sort(),
      events.map((e) => e.id).sort(),
    );
    for (const s of body.streams) {
      assert.deepEqual(Object.keys(s.stream).sort(), ['event_type', 'host', 'level', 'project', 'service']);
      for (const v of s.values) {
        assert.match(v[0], /^\d{19}$/);
        assert.equal(v[2].session_id, events[0]!.session_id);
        assert.equal(v[2].session_id in s.stream, false);
      }
    }
  });

  it('survives a remote that is down, then answers 500s, then recovers: each event once, in order, cursor kept across a restart', async () => {
    const { home, audit } = setup('loki-outage');
    const port = await freePort();
    const config = sinkConfig({ url: `http://127.0.0.1:${port}`, batchSize: 7 });
    let sinks = await run(home, [config], audit);
    const first = fixtureEvents(20, { startMs: Date.UTC(2026, 0, 5) });
    audit.append(first.slice(0, 10));
    await sleep(150);
    audit.append(first.slice(10));
    assert.ok(
      await waitFor(() => sinks.status()[0]!.failures >= 2, 5_000),
      'retries while the remote is down',
    );
    const down = sinks.status()[0]!;
    assert.equal(down.cursor, 0);
    assert.equal(down.lagEntries, 20);
    assert.equal(down.state, 'retrying');
    assert.match(down.lastError ?? '', /ECONNREFUSED/);

    let failing = 4;
    const r = await receiver(
      () => (failing-- > 0 ? { status: 500, body: 'ingester unavailable' } : { status: 204 }),
      port,
    );
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 20, 10_000), 'caught up after recovery');
    assert.equal(r.requests.length - r.accepted.length, 4, 'the four 500s were retried');
    assert.deepEqual(
      deliveredInLogOrder(r, first),
      first.map((e) => e.id),
      'every event once, in order',
    );
    const st = sinks.status()[0]!;
    assert.equal(st.failures, 0);
    assert.match(st.lastError ?? '', /HTTP 500: ingester unavailable/);

    await sinks.stop(500);
    const more = fixtureEvents(6, { startMs: Date.UTC(2026, 0, 6) });
    audit.append(more);
    sinks = await run(home, [config], audit);
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 26, 5_000));
    const all = [...first, ...more];
    assert.deepEqual(
      deliveredInLogOrder(r, all),
      all.map((e) => e.id),
      'no redelivery after restart',
    );
  });

  it('isolates entries the remote refuses (400), records them, and delivers the rest', async () => {
    const { home, audit } = setup('loki-poison');
    const events = fixtureEvents(9);
    const poison = new Set([events[2]!.id, events[6]!.id]);
    const r = await receiver((req) =>
      lokiIds(req).some((id) => poison.has(id))
        ? { status: 400, body: 'entry too far behind' }
        : { status: 204 },
    );
    audit.append(events);
    const sinks = await run(home, [sinkConfig({ url: r.url })], audit);
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 9, 5_000));
    const delivered = deliveredInLogOrder(r, events);
    assert.deepEqual(
      delivered,
      events.map((e) => e.id).filter((id) => !poison.has(id)),
    );
    const st = sinks.status()[0]!;
    assert.equal(st.rejected, 2);
    assert.equal(st.sent, 7);
    const lines = readFileSync(st.rejectedFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => [l.seq, l.id]),
      [
        [3, events[2]!.id],
        [7, events[6]!.id],
      ],
    );
    assert.match(lines[0].error, /HTTP 400: entry too far behind/);
  });

  it('holds the data and shows "blocked" on an auth refusal (401), then stops within its deadline', async () => {
    const { home, audit } = setup('loki-401');
    const r = await receiver(() => ({ status: 401, body: 'no org id' }));
    audit.append(fixtureEvents(3));
    const sinks = await run(home, [sinkConfig({ url: r.url, maxBackoffMs: 5_000 })], audit);
    assert.ok(await waitFor(() => sinks.status()[0]!.state === 'blocked', 5_000));
    const st = sinks.status()[0]!;
    assert.equal(st.cursor, 0);
    assert.equal(st.lagEntries, 3);
    assert.ok(st.lagSeconds >= 0);
    assert.match(st.lastError ?? '', /HTTP 401: no org id/);
    assert.equal(existsSync(st.rejectedFile), false, 'a configuration error rejects nothing');
    const t = performance.now();
    await sinks.stop(300);
    assert.ok(performance.now() - t < 1_000, 'stop does not wait out the backoff');
    assert.equal(sinks.status()[0]!.state, 'stopped');
  });

  it('flushes a partial batch at stop instead of waiting out batch_wait_ms', async () => {
    const { home, audit } = setup('loki-flush');
    const r = await receiver(() => ({ status: 204 }));
    const sinks = await run(home, [sinkConfig({ url: r.url, batchWaitMs: 60_000 })], audit);
    const events = fixtureEvents(3);
    audit.append(events);
    sinks.notify();
    await sleep(100);
    assert.equal(r.requests.length, 0, 'still waiting for a fuller batch');
    await sinks.stop(1_000);
    assert.deepEqual(r.accepted.flatMap(lokiIds).sort(), events.map((e) => e.id).sort());
    assert.equal(await readCursor(join(sinksDir({ home }), 'remote.cursor')), 3);
  });

  it('aborts a hung request at the stop deadline without moving the cursor', async () => {
    const { home, audit } = setup('loki-hang');
    const r = await receiver(() => null);
    audit.append(fixtureEvents(2));
    const sinks = await run(home, [sinkConfig({ url: r.url, timeoutMs: 30_000 })], audit);
    assert.ok(await waitFor(() => r.requests.length === 1, 5_000));
    const t = performance.now();
    await sinks.stop(200);
    const took = performance.now() - t;
    assert.ok(took >= 150 && took < 1_500, `stopped in ${took} ms`);
    assert.equal(await readCursor(join(sinksDir({ home }), 'remote.cursor')), 0);
  });
});

describe('routing', () => {
  it('sends each event to the sinks of the first matching route and counts the rest as skipped', async () => {
    const { home, audit } = setup('routes');
    const ra = await receiver(() => ({ status: 204 }));
    const rb = await receiver(() => ({ status: 204 }));
    const web = fixtureEvents(4, { projectDir: '/home/dev/web' });
    const secret = fixtureEvents(3, { projectDir: '/home/dev/secret-x', startMs: Date.UTC(2026, 0, 7) });
    const ci = fixtureEvents(2, { host: 'ci-runner-1', startMs: Date.UTC(2026, 0, 8) });
    audit.append([...web, ...secret, ...ci]);
    const sinks = await startSinks(
      { home },
      {
        sinks: [sinkConfig({ url: ra.url, name: 'central' }), sinkConfig({ url: rb.url, name: 'ci' })],
        routes: [
          { project: 'secret-*', sinks: [] },
          { host: 'ci-*', sinks: ['ci', 'central'] },
          { project: '/home/dev/**', sinks: ['central'] },
        ],
      },
      audit,
    );
    cleanups.push(() => sinks.stop(200));
    assert.ok(await waitFor(() => sinks.status().every((s) => s.cursor === 9), 5_000));
    assert.deepEqual(ra.accepted.flatMap(lokiIds).sort(), [...web, ...ci].map((e) => e.id).sort());
    assert.deepEqual(rb.accepted.flatMap(lokiIds).sort(), ci.map((e) => e.id).sort());
    const [central, ciSink] = sinks.status();
    assert.equal(central!.skipped, 3);
    assert.equal(ciSink!.skipped, 7);
  });
});

describe('OTLP sink', () => {
  const anyString = (kv: Buffer): [string, string] => {
    const f = readFields(kv);
    return [str(fieldsNamed(f, 1)[0]), str(fieldsNamed(readFields(fieldsNamed(f, 2)[0] as Buffer), 1)[0])];
  };

  it('exports protobuf ExportLogsServiceRequest (gzip) with resource, severity, ns times, body and attributes', async () => {
    const { home, audit } = setup('otlp-pb');
    const r = await receiver(() => ({ status: 200, headers: { 'content-type': 'application/x-protobuf' } }));
    const events = [
      ...fixtureEvents(3),
      ...fixtureEvents(2, { host: 'other', startMs: Date.UTC(2026, 0, 9) }),
    ];
    audit.append(events);
    const sinks = await run(
      home,
      [sinkConfig({ type: 'otlp', url: `${r.url}/otlp`, headers: { 'x-api-key': 'k1' } })],
      audit,
    );
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 5, 5_000));
    const req = r.requests[0]!;
    assert.equal(req.url, '/otlp/v1/logs');
    assert.equal(req.headers['content-type'], 'application/x-protobuf');
    assert.equal(req.headers['content-encoding'], 'gzip');
    assert.equal(req.headers['x-api-key'], 'k1');
    const resources = fieldsNamed(readFields(gunzipSync(req.body)), 1) as Buffer[];
    assert.equal(resources.length, 2, 'one resource per host');
    const seen: string[] = [];
    for (const rl of resources) {
      const f = readFields(rl);
      const resAttrs = Object.fromEntries(
        (fieldsNamed(readFields(fieldsNamed(f, 1)[0] as Buffer), 1) as Buffer[]).map(anyString),
      );
      assert.equal(resAttrs['service.name'], 'claude-telemetry');
      assert.ok(['box', 'other'].includes(resAttrs['host.name']!));
      const scopeLogs = readFields(fieldsNamed(f, 2)[0] as Buffer);
      assert.equal(
        str(fieldsNamed(readFields(fieldsNamed(scopeLogs, 1)[0] as Buffer), 1)[0]),
        'claude-telemetry',
      );
      for (const rec of fieldsNamed(scopeLogs, 2) as Buffer[]) {
        const lr = readFields(rec);
        const body = str(fieldsNamed(readFields(fieldsNamed(lr, 5)[0] as Buffer), 1)[0]);
        const event = JSON.parse(body) as TelemetryEvent;
        seen.push(event.id);
        assert.equal(event.metadata.host, resAttrs['host.name']);
        assert.equal(
          fieldsNamed(lr, 1)[0],
          BigInt(Date.parse(event.timestamp)) * 1_000_000n,
          'fixed64 ns time',
        );
        assert.equal(typeof fieldsNamed(lr, 11)[0], 'bigint', 'observed time');
        assert.equal(fieldsNamed(lr, 2)[0], 9n, 'INFO severity number');
        assert.equal(str(fieldsNamed(lr, 3)[0]), 'INFO');
        const attrs = Object.fromEntries((fieldsNamed(lr, 6) as Buffer[]).map(anyString));
        assert.equal(attrs.session_id, event.session_id);
        assert.equal(attrs.event_type, event.event_type);
        assert.equal(attrs.project, event.project_name);
        assert.equal(attrs.event_id, event.id);
      }
    }
    assert.deepEqual(seen.sort(), events.map((e) => e.id).sort());
  });

  it('exports OTLP/JSON with lowerCamelCase fields and int64 as strings; reports a partial success', async () => {
    const { home, audit } = setup('otlp-json');
    const r = await receiver(() => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ partialSuccess: { rejectedLogRecords: '1', errorMessage: 'too old' } }),
    }));
    const events = fixtureEvents(2);
    audit.append(events);
    const sinks = await run(home, [sinkConfig({ type: 'otlp', url: r.url, encoding: 'json' })], audit);
    assert.ok(await waitFor(() => sinks.status()[0]!.cursor === 2, 5_000));
    const req = r.requests[0]!;
    assert.equal(req.url, '/v1/logs');
    assert.equal(req.headers['content-type'], 'application/json');
    const doc = JSON.parse(gunzipSync(req.body).toString('utf8'));
    const rec = doc.resourceLogs[0].scopeLogs[0].logRecords[0];
    assert.equal(rec.timeUnixNano, (BigInt(Date.parse(events[0]!.timestamp)) * 1_000_000n).toString());
    assert.equal(rec.severityNumber, 9);
    assert.equal(JSON.parse(rec.body.stringValue).id, events[0]!.id);
    assert.deepEqual(doc.resourceLogs[0].resource.attributes[0], {
      key: 'service.name',
      value: { stringValue: 'claude-telemetry' },
    });
    assert.match(sinks.status()[0]!.lastError ?? '', /dropped 1: too old/);
  });
});
