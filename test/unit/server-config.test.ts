import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../../src/config/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'ct-server-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const config = join(dir, 'config.yaml');
  writeFileSync(config, yaml);
  return loadConfig({ config });
}

describe('config: server section', () => {
  test('defaults: enabled on 127.0.0.1:3100', () => {
    assert.deepEqual(load('capture: metadata\n').server, DEFAULT_CONFIG.server);
    assert.deepEqual(DEFAULT_CONFIG.server, {
      enabled: true,
      host: '127.0.0.1',
      port: 3100,
      maxBodyBytes: 16 * 1024 * 1024,
    });
  });

  test('snake_case keys are read', () => {
    const s = load(
      'server:\n  enabled: false\n  host: "::1"\n  port: 3101\n  max_body_bytes: 1048576\n',
    ).server;
    assert.deepEqual(s, { enabled: false, host: '::1', port: 3101, maxBodyBytes: 1_048_576 });
    assert.equal(load('server:\n  port: 0\n').server.port, 0);
  });

  test('bad values name the key', () => {
    const bad: [string, RegExp][] = [
      ['server:\n  port: 70000\n', /server\.port must be an integer from 0 to 65535, got 70000/],
      ['server:\n  port: "3100"\n', /server\.port/],
      ['server:\n  host: ""\n', /server\.host/],
      ['server:\n  enabled: "yes"\n', /server\.enabled must be true or false/],
      ['server:\n  max_body_bytes: 0\n', /server\.max_body_bytes must be a positive number/],
    ];
    for (const [yaml, pattern] of bad) {
      assert.throws(
        () => load(yaml),
        (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
        yaml,
      );
    }
  });
});
