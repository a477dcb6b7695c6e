import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { commandLineOf } from '../../src/collector/control.ts';

test('command line of a process from /proc, and from ps where there is no /proc', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'start', '--foreground']);
  try {
    const pid = child.pid as number;
    const fromProc = commandLineOf(pid);
    const fromPs = commandLineOf(pid, '/nonexistent-proc');
    if (fromPs === undefined) return t.skip('no ps on PATH');
    assert.ok(fromPs?.includes('start') && fromPs.includes('--foreground'), JSON.stringify(fromPs));
    if (fromProc !== undefined) assert.ok(fromProc?.includes('--foreground'));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(commandLineOf(pid, '/nonexistent-proc'), null, 'a process that is gone');
  } finally {
    child.kill('SIGKILL');
  }
});
