#!/usr/bin/env node
import { TELEMETRY_VERSION } from '../collector/pipeline.ts';
import { ConfigError } from '../config/config.ts';
import { agents, conflicts, tree } from './agents.ts';
import { alerts } from './alerts.ts';
import { analytics } from './analytics.ts';
import { helpText, UsageError } from './args.ts';
import { reindex, verify } from './audit.ts';
import { backup } from './backup.ts';
import { cleanup } from './cleanup.ts';
import { type Command, out } from './command.ts';
import { configCmd } from './config.ts';
import { connect, disconnect, projects } from './connect.ts';
import { cost } from './cost.ts';
import { restart, setup, start, status, stop } from './daemon.ts';
import { dashboard } from './dashboard.ts';
import { demo } from './demo.ts';
import { evaluate } from './evaluate.ts';
import { examples } from './examples.ts';
import { exportCmd } from './export.ts';
import { grafana } from './grafana.ts';
import { doctor, health } from './health.ts';
import { importCmd } from './import.ts';
import { logs, query, sessions } from './query.ts';
import { restore } from './restore.ts';
import { rules } from './rules.ts';

const COMMANDS: Command[] = [
  setup,
  start,
  stop,
  restart,
  status,
  connect,
  disconnect,
  projects,
  logs,
  query,
  examples,
  sessions,
  dashboard,
  grafana,
  verify,
  reindex,
  demo,
  exportCmd,
  backup,
  restore,
  cleanup,
  health,
  doctor,
  configCmd,
  rules,
  alerts,
  evaluate,
  agents,
  tree,
  conflicts,
  importCmd,
  cost,
  analytics,
];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    'claude-telemetry: see what Claude Code agents do, with an audit trail you can verify.',
    '',
    'Usage: claude-telemetry <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(w)}  ${c.spec.summary}`),
    '',
    "Run `claude-telemetry <command> --help` for a command's options.",
    'Data dir: $CLAUDE_TELEMETRY_HOME (default ~/.claude-telemetry).',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const sub = name === 'help' ? COMMANDS.find((c) => c.spec.name === rest[0]) : undefined;
    out.write(sub ? helpText(sub.spec) : usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    out.write(`${TELEMETRY_VERSION}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.spec.name === name);
  if (!cmd) {
    out.error(`claude-telemetry: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out.write(helpText(cmd.spec));
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      out.error(`claude-telemetry ${err.message}\nsee: claude-telemetry ${name} --help\n`);
      return 2;
    }
    const msg = err instanceof ConfigError ? err.message : ((err as Error)?.message ?? String(err));
    out.error(`claude-telemetry ${name}: ${msg}\n`);
    if (process.env.CLAUDE_TELEMETRY_DEBUG) out.error(`${(err as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

// Output piped into `head` and the like: a closed pipe ends the command quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`claude-telemetry: ${(err as Error)?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
