/** config get / set / validate through the CLI: comments and order survive a set, --dry-run writes nothing. */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { cli } from '../helpers.ts';
import { cleanupHomes, opsHome } from '../ops-helpers.ts';

after(cleanupHomes);

const ORIGINAL = `# settings for this machine
capture: metadata # privacy first

retention:
  # a quarter of events
  events:
    max_age_days: 90
`;

test('config get, set (keeping comments and order), --dry-run, validate', () => {
  const paths = opsHome('config-cli');
  writeFileSync(paths.config, ORIGINAL);
  const get = (key: string) => cli(paths, ['config', 'get', key]);
  assert.equal(get('retention.events.max_age_days').stdout, '90\n');
  assert.equal(get('ingest.batch_size').stdout, '1000\n', 'a default when the file does not say');
  assert.deepEqual(JSON.parse(cli(paths, ['config', 'get', 'capture', '--json']).stdout), {
    key: 'capture',
    value: 'metadata',
    source: 'config.yaml',
  });
  const unknown = get('ingest.nope');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /ingest\.nope is not a setting/);

  const dry = cli(paths, ['config', 'set', 'ingest.batch_size', '500', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /\+ {2}batch_size: 500/);
  assert.match(dry.stdout, /dry run: config.yaml not changed/);
  assert.equal(readFileSync(paths.config, 'utf8'), ORIGINAL);

  assert.equal(cli(paths, ['config', 'set', 'ingest.batch_size', '500']).status, 0);
  assert.equal(cli(paths, ['config', 'set', 'capture', 'full']).status, 0);
  assert.equal(cli(paths, ['config', 'set', 'retention.events.max_age_days', '30']).status, 0);
  const text = readFileSync(paths.config, 'utf8');
  assert.equal(
    text,
    ORIGINAL.replace('capture: metadata', 'capture: full').replace('max_age_days: 90', 'max_age_days: 30') +
      'ingest:\n  batch_size: 500\n',
  );
  assert.equal(statSync(paths.config).mode & 0o777, 0o600);
  const c = loadConfig(paths);
  assert.equal(c.ingest.batchSize, 500);
  assert.equal(c.capture, 'full');

  const refused = cli(paths, ['config', 'set', 'server.port', '99999']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /server\.port must be an integer from 0 to 65535, got 99999/);
  assert.equal(readFileSync(paths.config, 'utf8'), text, 'a refused value changes nothing');

  assert.equal(cli(paths, ['config', 'validate']).status, 0);
  writeFileSync(paths.config, `${text}audit:\n  checkpoint_every: often\n`);
  const v = cli(paths, ['config', 'validate', '--json']);
  assert.equal(v.status, 1);
  assert.deepEqual(JSON.parse(v.stdout).error.key, 'audit.checkpoint_every');
  assert.equal(cli(paths, ['config', 'frobnicate']).status, 2);
});
