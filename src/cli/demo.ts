import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installHook } from '../capture/install.ts';
import { hookCommand } from '../capture/settings.ts';
import * as spool from '../capture/spool.ts';
import { Collector } from '../collector/collector.ts';
import { runningPid } from '../collector/control.ts';
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, printJson, println } from './command.ts';

/** A recorded Claude Code session (real 2.1.329 hook payloads plus a few out-of-scope actions). */
const FIXTURE = fileURLToPath(new URL('../../fixtures/demo/session.jsonl', import.meta.url));

const demoSpec = {
  name: 'demo',
  summary:
    'Replay a recorded Claude Code session through the real capture hook, so there is data to look at.',
  usage: 'demo [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                print {session_id, events} as JSON'],
} satisfies CommandSpec<Options>;

export const demo: Command = {
  spec: demoSpec,
  async run(argv) {
    const { values } = parse(demoSpec, argv);
    const paths = dataPaths();
    installHook(paths);
    const project = join(paths.home, 'demo', 'acme-webapp');
    mkdirSync(project, { recursive: true });
    const session = randomUUID();
    const vars: Record<string, string> = {
      PROJECT: project,
      HOME: homedir(),
      SESSION: session,
      PROJECT_SLUG: project.replace(/[^a-zA-Z0-9]/g, '-'),
    };
    const payloads = readFileSync(FIXTURE, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.replace(/\{\{([A-Z_]+)\}\}/g, (_, k: string) => vars[k] ?? ''));
    // One real hook process per event, in order, exactly as Claude Code would run it.
    const cmd = hookCommand(paths.hook, 'demo');
    for (const p of payloads) {
      spawnSync('sh', ['-c', cmd], {
        input: p,
        cwd: project,
        env: { ...process.env, CLAUDE_PROJECT_DIR: project, CLAUDE_CODE_SESSION_ID: session },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    }
    const running = runningPid(paths) !== undefined;
    if (running) {
      const deadline = Date.now() + 15_000;
      while (spool.backlog(paths) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } else {
      const collector = await Collector.open(paths, loadConfig(paths));
      collector.drain();
      await collector.stop();
    }
    if (values.json) {
      printJson({ session_id: session, events: payloads.length, project, collectorRunning: running });
      return 0;
    }
    println(`replayed ${payloads.length} hook events of a recorded session into ${paths.home}`);
    println(`session: ${session}`);
    println('');
    println('look at it:');
    println(`  claude-telemetry sessions`);
    println(`  claude-telemetry query --session ${session.slice(0, 8)}`);
    println('  claude-telemetry query --outside-scope');
    println('  claude-telemetry logs');
    println('  claude-telemetry verify');
    return 0;
  },
};
