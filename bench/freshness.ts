import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { installHook } from '../src/capture/install.ts';
import { hookCommand } from '../src/capture/settings.ts';
import { startBackground, stopCollector } from '../src/collector/control.ts';
import { stats, tempHome } from './util.ts';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/**
 * Hook call -> visible in a query, with the real background collector: time from just before the hook
 * process starts until a reader of the store sees the event (polled every 1 ms).
 */
export async function runFreshnessBench(samples = 200) {
  const paths = tempHome('fresh');
  installHook(paths);
  await startBackground(paths, CLI);
  const db = new Database(paths.storeFile, { readonly: true, fileMustExist: true });
  const seen = db.prepare('SELECT 1 FROM events WHERE session_id = ? LIMIT 1');
  const cmd = hookCommand(paths.hook, 'project');
  const lat: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const session = randomUUID();
      const payload = JSON.stringify({
        session_id: session,
        cwd: '/home/dev/project',
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_use_id: `toolu_${i}`,
        tool_input: { command: `echo ${i}` },
      });
      const t0 = performance.now();
      spawnSync('sh', ['-c', cmd], { input: payload, env: { PATH: process.env.PATH ?? '' } });
      const deadline = t0 + 5_000;
      while (!seen.get(session)) {
        if (performance.now() > deadline) throw new Error('event not visible within 5 s');
        await new Promise((r) => setTimeout(r, 1));
      }
      lat.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20 + (i % 7) * 5));
    }
  } finally {
    db.close();
    await stopCollector(paths);
    rmSync(paths.home, { recursive: true, force: true });
  }
  return { hookToQueryMs: stats(lat) };
}
