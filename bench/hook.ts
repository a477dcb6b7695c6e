import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { installHook } from '../src/capture/install.ts';
import { hookCommand } from '../src/capture/settings.ts';
import { fixturePayloads, stats, tempHome } from './util.ts';

/**
 * Cost of one hook call as Claude Code pays it: spawn `sh -c <command>` with the payload on stdin and wait.
 * Our hook and the `sh -c 'cat >/dev/null'` floor are interleaved call by call so both see the same machine.
 */
export function runHookBench(iterations = 400) {
  const paths = tempHome('hook');
  installHook(paths);
  const payload = JSON.stringify(fixturePayloads().find((p) => p.hook_event_name === 'PostToolUse'));
  const ours = hookCommand(paths.hook, 'project');
  const floor = 'cat >/dev/null';
  const time = (cmd: string) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', cmd], {
      input: payload,
      env: { PATH: process.env.PATH ?? '', CLAUDE_PROJECT_DIR: '/home/dev/project' },
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
    return ms;
  };
  for (let i = 0; i < 20; i++) {
    time(ours);
    time(floor);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < iterations; i++) {
    a.push(time(ours));
    b.push(time(floor));
    if (i % 200 === 199) for (const f of readdirSync(paths.spoolNew)) rmSync(join(paths.spoolNew, f));
  }
  // A Node.js hook for comparison: what a hook written in the product's own language would cost.
  const node: number[] = [];
  const nodeCmd = `exec '${process.execPath}' -e "process.stdin.resume();process.stdin.on('end',()=>{})"`;
  for (let i = 0; i < 40; i++) node.push(time(nodeCmd));
  const hook = stats(a);
  const shCat = stats(b);
  rmSync(paths.home, { recursive: true, force: true });
  return {
    payloadBytes: Buffer.byteLength(payload),
    hook,
    shCatFloor: shCat,
    nodeHook: stats(node),
    ratioP50: Math.round((hook.p50 / shCat.p50) * 100) / 100,
    ratioP95: Math.round((hook.p95 / shCat.p95) * 100) / 100,
    seedBashJqMedianMs: 296,
  };
}
