/** The node flags the collector process is started with (src/cli/daemon.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COLLECTOR_NODE_FLAGS, collectorExecArgv } from '../../src/cli/daemon.ts';

test('the collector gets its node flags after the ones this process has', () => {
  assert.ok(COLLECTOR_NODE_FLAGS.length > 0);
  assert.deepEqual(collectorExecArgv([], ''), COLLECTOR_NODE_FLAGS);
  assert.deepEqual(collectorExecArgv(['--import', 'tsx'], ''), ['--import', 'tsx', ...COLLECTOR_NODE_FLAGS]);
  // Started again from a collector's own arguments: not added twice.
  const once = collectorExecArgv([], '');
  assert.deepEqual(collectorExecArgv(once, ''), once);
});

test('a flag the user set, on the command line or in NODE_OPTIONS, is left as set', () => {
  assert.deepEqual(collectorExecArgv(['--max-semi-space-size=32'], ''), ['--max-semi-space-size=32']);
  assert.deepEqual(collectorExecArgv([], '--max-old-space-size=512 --max-semi-space-size=8'), []);
  // Another flag whose name starts the same is not the same flag.
  assert.deepEqual(collectorExecArgv(['--max-semi-space-size-x'], ''), [
    '--max-semi-space-size-x',
    ...COLLECTOR_NODE_FLAGS,
  ]);
});
