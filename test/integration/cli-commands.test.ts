/**
 * The CLI loads a command's module only when that command runs; the overall help still lists every command
 * with the summary its own help gives, and every command's help works.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { cli, tempPaths } from '../helpers.ts';

const paths = tempPaths('cli-commands');
after(() => rmSync(paths.home, { recursive: true, force: true }));

test('--help lists every command with its summary; each command has its own help', () => {
  const top = cli(paths, ['--help']);
  assert.equal(top.status, 0, top.stderr);
  const listed = top.stdout
    .split('\n')
    .filter((l) => /^ {2}\S/.test(l))
    .map((l) => /^ {2}(\S+) +(.*)$/.exec(l)?.slice(1) as [string, string]);
  assert.ok(listed.length >= 30, `commands listed: ${listed.length}`);
  for (const [name, summary] of listed) {
    const own = cli(paths, [name, '--help']);
    assert.equal(own.status, 0, `${name}: ${own.stderr}`);
    assert.equal(own.stdout.split('\n')[0], summary, name);
    assert.match(own.stdout, new RegExp(`Usage: claude-telemetry ${name}\\b`));
  }
  const help = cli(paths, ['help', 'agents']);
  assert.match(help.stdout, /--local/);
  const unknown = cli(paths, ['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"[\s\S]*Commands:[\s\S]*\n {2}agents /);
  assert.match(cli(paths, ['--version']).stdout, /^\d+\.\d+\.\d+/);
});
