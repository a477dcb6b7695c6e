import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../src/config/config.ts';

function fails(raw: unknown): ConfigError {
  try {
    parseConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe('config schema', () => {
  test('an empty or missing document gives exactly the defaults', () => {
    assert.deepEqual(parseConfig({}), JSON.parse(JSON.stringify(DEFAULT_CONFIG)));
    assert.deepEqual(parseConfig(null), parseConfig({}));
    // An empty key takes its default; a retention limit set to null means "keep".
    const c = parseConfig({
      ingest: { batch_size: null },
      retention: { quarantine: { max_age_days: null } },
    });
    assert.equal(c.ingest.batchSize, DEFAULT_CONFIG.ingest.batchSize);
    assert.equal(c.retention.quarantine.maxAgeDays, null);
    assert.equal(c.retention.quarantine.maxSizeMb, DEFAULT_CONFIG.retention.quarantine.maxSizeMb);
  });

  test('every section is read: values land on the camelCase fields', () => {
    const c = parseConfig({
      capture: 'full',
      ingest: { batch_size: 50, rescan_ms: 200, max_payload_bytes: 1024, orphan_after_ms: 9 },
      audit: { checkpoint_every: 10 },
      server: { enabled: false, host: '0.0.0.0', port: 0, max_body_bytes: 5 },
      retention: { events: { max_age_days: 7, max_size_mb: 100 } },
      federation: { instances: [{ name: 'a', url: 'http://127.0.0.1:3101' }] },
    });
    assert.equal(c.capture, 'full');
    assert.deepEqual(c.ingest, { batchSize: 50, rescanMs: 200, maxPayloadBytes: 1024, orphanAfterMs: 9 });
    assert.deepEqual(c.audit, { checkpointEvery: 10 });
    assert.deepEqual(c.server, { enabled: false, host: '0.0.0.0', port: 0, maxBodyBytes: 5 });
    assert.deepEqual(c.retention.events, { maxAgeDays: 7, maxSizeMb: 100 });
    assert.equal(c.federation.instances[0]?.name, 'a');
  });

  test('errors name the key, the value expected and the value found', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ capture: 'all' }, 'capture', /must be "metadata" or "full", got "all"/],
      [{ ingest: { batch_size: 'x' } }, 'ingest.batch_size', /must be a positive number, got "x"/],
      [{ ingest: { batch_size: 2.5 } }, 'ingest.batch_size', /must be a positive integer, got 2\.5/],
      [{ server: { port: 70000 } }, 'server.port', /must be an integer from 0 to 65535, got 70000/],
      [{ server: { enabled: 'yes' } }, 'server.enabled', /must be true or false, got "yes"/],
      [
        { retention: { logs: { max_size_mb: 0 } } },
        'retention.logs.max_size_mb',
        /must be a positive number of megabytes/,
      ],
      [{ retenion: {} }, 'retenion', /is not a setting \(known here: capture, ingest/],
      [{ ingest: { batchsize: 1 } }, 'ingest.batchsize', /known here: batch_size, rescan_ms/],
      [{ sinks: [{ name: 'a', type: 'kafka', url: 'http://x' }] }, 'sinks[0].type', /"loki" or "otlp"/],
    ];
    for (const [raw, key, message] of cases) {
      const e = fails(raw);
      assert.equal(e.key, key, e.message);
      assert.ok(e.message.startsWith(`config.yaml: ${key}`), e.message);
      assert.match(e.message, message);
    }
    assert.match(fails([1, 2]).message, /must be a YAML mapping/);
  });
});
