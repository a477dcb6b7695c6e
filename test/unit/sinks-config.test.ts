import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { compileRoutes } from '../../src/sinks/routes.ts';
import type { TelemetryEvent } from '../../src/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'ct-sinkcfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const config = join(dir, 'config.yaml');
  writeFileSync(config, yaml);
  return loadConfig({ config });
}

describe('sinks, routes and federation in config.yaml', () => {
  it('defaults to no sinks, no routes, no federated instances', () => {
    const c = load('capture: metadata\n');
    assert.deepEqual(c.sinks, []);
    assert.deepEqual(c.routes, []);
    assert.deepEqual(c.federation, { instances: [], timeoutMs: 10_000, instanceLabel: 'instance' });
  });

  it('reads snake_case keys into a typed config with defaults', () => {
    const c = load(`
sinks:
  - name: central
    type: loki
    url: https://loki.example:3100
    tenant: team-a
    basic_auth: { username: u, password: p }
    batch_size: 200
  - name: otel
    type: otlp
    url: http://127.0.0.1:4318
    encoding: json
    bearer_token: t
    headers: { x-api-key: k }
routes:
  - project: "secret-*"
    sinks: []
  - host: "ci-*"
    agent: Explore
    sinks: [otel, central]
federation:
  instances:
    - { name: a, url: "http://127.0.0.1:3101" }
    - { name: b, url: "http://127.0.0.1:3102", tenant: t2, bearer_token: x }
  timeout_ms: 1500
  instance_label: origin
`);
    assert.equal(c.sinks.length, 2);
    assert.deepEqual(c.sinks[0], {
      type: 'loki',
      name: 'central',
      url: 'https://loki.example:3100',
      tenant: 'team-a',
      auth: { type: 'basic', username: 'u', password: 'p' },
      headers: {},
      encoding: 'protobuf',
      batchSize: 200,
      batchWaitMs: 1000,
      timeoutMs: 10_000,
      minBackoffMs: 500,
      maxBackoffMs: 60_000,
    });
    assert.deepEqual(c.sinks[1]!.auth, { type: 'bearer', token: 't' });
    assert.equal(c.sinks[1]!.encoding, 'json');
    assert.deepEqual(c.routes[1], { host: 'ci-*', agent: 'Explore', sinks: ['otel', 'central'] });
    assert.equal(c.federation.timeoutMs, 1500);
    assert.equal(c.federation.instanceLabel, 'origin');
    assert.equal(c.federation.instances[1]!.tenant, 't2');
    assert.equal(load('federation: { instance_label: "" }\n').federation.instanceLabel, null);
  });

  it('names the offending key in every validation error', () => {
    const cases: [string, RegExp][] = [
      ['sinks: {}\n', /config\.yaml: sinks must be a list/],
      ['sinks: [{ name: a, type: kafka, url: "http://x" }]\n', /sinks\[0\]\.type must be "loki" or "otlp"/],
      ['sinks: [{ name: a, type: loki, url: "ftp://x" }]\n', /sinks\[0\]\.url must be http or https/],
      ['sinks: [{ name: a, type: loki, url: "not a url" }]\n', /sinks\[0\]\.url is not a URL/],
      [
        'sinks: [{ name: a, type: loki, url: "http://x", batch_size: 0 }]\n',
        /sinks\[0\]\.batch_size must be a positive/,
      ],
      [
        'sinks: [{ name: a, type: loki, url: "http://x" }, { name: a, type: otlp, url: "http://y" }]\n',
        /sinks\[1\]\.name: duplicate name "a"/,
      ],
      [
        'sinks: [{ name: a, type: otlp, url: "http://x", tenant: t }]\n',
        /sinks\[0\]\.tenant applies to loki/,
      ],
      [
        'sinks: [{ name: a, type: loki, url: "http://x", bearer_token: t, basic_auth: {username: u, password: p} }]\n',
        /sinks\[0\]: set basic_auth or bearer_token, not both/,
      ],
      ['sinks: [{ name: a, type: loki, url: "http://x", encoding: xml }]\n', /sinks\[0\]\.encoding/],
      ['routes: [{ project: x, sinks: [nope] }]\n', /routes\[0\]\.sinks\[0\]: no sink named "nope"/],
      ['routes: [{ project: x }]\n', /routes\[0\]\.sinks is required/],
      ['routes: [{ user: x, sinks: [] }]\n', /routes\[0\]\.user is not a route key/],
      [
        'federation: { instances: [{ name: a }] }\n',
        /federation\.instances\[0\]\.url must be a non-empty string/,
      ],
      ['federation: { instance_label: "a-b" }\n', /federation\.instance_label is not a label name/],
      ['federation: { timeout_ms: -1 }\n', /federation\.timeout_ms must be a positive number/],
    ];
    for (const [yaml, message] of cases) {
      assert.throws(
        () => load(yaml),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        yaml,
      );
    }
  });
});

describe('forwarding routes', () => {
  const event = (over: Partial<TelemetryEvent> & { host?: string }): TelemetryEvent =>
    ({
      project_name: 'web',
      project_path: '/home/dev/web',
      metadata: { host: over.host ?? 'laptop' },
      ...over,
    }) as TelemetryEvent;

  it('without routes every sink gets every event', () => {
    const route = compileRoutes([], ['a', 'b']);
    assert.deepEqual([...route(event({}))], ['a', 'b']);
  });

  it('first matching route wins; all its conditions must match; unmatched events go nowhere', () => {
    const route = compileRoutes(
      [
        { project: 'secret-*', sinks: [] },
        { host: 'ci-*', agent: 'Explore', sinks: ['ci'] },
        { project: '/srv/**', sinks: ['servers'] },
        { host: 'laptop', sinks: ['central'] },
      ],
      ['ci', 'servers', 'central'],
    );
    assert.deepEqual([...route(event({ project_name: 'secret-api' }))], []);
    assert.deepEqual([...route(event({ host: 'ci-1', agent_type: 'Explore' }))], ['ci']);
    assert.deepEqual([...route(event({ host: 'ci-1', agent_id: 'Explore' }))], ['ci']);
    assert.deepEqual([...route(event({ host: 'ci-1' }))], [], 'agent condition not met, no other route fits');
    assert.deepEqual([...route(event({ host: 'ci-1', project_path: '/srv/app' }))], ['servers']);
    assert.deepEqual([...route(event({}))], ['central']);
  });
});
