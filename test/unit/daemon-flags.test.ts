/** The node flags the collector process is started with (src/cli/daemon.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { COLLECTOR_NODE_FLAGS, collectorExecArgv, releaseSemiSpaceFlags } from '../../src/cli/daemon.ts';

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
  // Either semi-space flag is a young-generation size of the user's: neither of ours is added.
  assert.deepEqual(collectorExecArgv(['--min-semi-space-size=2'], ''), ['--min-semi-space-size=2']);
  // Another flag whose name starts the same is not the same flag.
  assert.deepEqual(collectorExecArgv(['--max-semi-space-size-x'], ''), [
    '--max-semi-space-size-x',
    ...COLLECTOR_NODE_FLAGS,
  ]);
});

/** New-space size (MB) of a worker thread that asks for a 6 MB young generation, after a burst of garbage. */
async function workerNewSpaceMB(): Promise<number> {
  const code = `
    const { getHeapSpaceStatistics } = require('node:v8');
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 1e5) keep = []; }
    const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    require('node:worker_threads').parentPort.postMessage(s.space_size / 1048576);`;
  const w = new Worker(code, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 6 } });
  const [mb] = (await once(w, 'message')) as [number];
  await w.terminate();
  return mb;
}

test('worker threads started after the collector clears its semi-space flags get their own young generation', async () => {
  assert.equal(releaseSemiSpaceFlags([]), false, 'not the collector: nothing cleared');
  for (const f of COLLECTOR_NODE_FLAGS) setFlagsFromString(f);
  try {
    assert.ok((await workerNewSpaceMB()) > 6, 'the flags win over the thread limit');
    assert.equal(releaseSemiSpaceFlags(COLLECTOR_NODE_FLAGS), true);
    assert.ok((await workerNewSpaceMB()) <= 6);
  } finally {
    setFlagsFromString('--max-semi-space-size=0');
    setFlagsFromString('--min-semi-space-size=0');
  }
});
