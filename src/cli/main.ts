#!/usr/bin/env node
import { helpText, UsageError } from './args.ts';
import { type Command, out } from './command.ts';

/**
 * Every command in help order, with the module that defines it. A module is imported only when its command
 * runs (or its help is asked for): starting the CLI costs the modules of one command, not of all of them.
 */
const COMMANDS: [name: string, load: () => Promise<Command>][] = [
  ['setup', async () => (await import('./daemon.ts')).setup],
  ['start', async () => (await import('./daemon.ts')).start],
  ['stop', async () => (await import('./daemon.ts')).stop],
  ['restart', async () => (await import('./daemon.ts')).restart],
  ['status', async () => (await import('./daemon.ts')).status],
  ['connect', async () => (await import('./connect.ts')).connect],
  ['disconnect', async () => (await import('./connect.ts')).disconnect],
  ['projects', async () => (await import('./connect.ts')).projects],
  ['logs', async () => (await import('./query.ts')).logs],
  ['query', async () => (await import('./query.ts')).query],
  ['examples', async () => (await import('./examples.ts')).examples],
  ['sessions', async () => (await import('./query.ts')).sessions],
  ['dashboard', async () => (await import('./dashboard.ts')).dashboard],
  ['grafana', async () => (await import('./grafana.ts')).grafana],
  ['verify', async () => (await import('./audit.ts')).verify],
  ['reindex', async () => (await import('./audit.ts')).reindex],
  ['demo', async () => (await import('./demo.ts')).demo],
  ['export', async () => (await import('./export.ts')).exportCmd],
  ['backup', async () => (await import('./backup.ts')).backup],
  ['restore', async () => (await import('./restore.ts')).restore],
  ['cleanup', async () => (await import('./cleanup.ts')).cleanup],
  ['health', async () => (await import('./health.ts')).health],
  ['doctor', async () => (await import('./health.ts')).doctor],
  ['config', async () => (await import('./config.ts')).configCmd],
  ['rules', async () => (await import('./rules.ts')).rules],
  ['alerts', async () => (await import('./alerts.ts')).alerts],
  ['evaluate', async () => (await import('./evaluate.ts')).evaluate],
  ['agents', async () => (await import('./agents.ts')).agents],
  ['tree', async () => (await import('./agents.ts')).tree],
  ['conflicts', async () => (await import('./agents.ts')).conflicts],
  ['import', async () => (await import('./import.ts')).importCmd],
  ['cost', async () => (await import('./cost.ts')).cost],
  ['analytics', async () => (await import('./analytics.ts')).analytics],
];

/** The command called `name`, loaded; undefined for an unknown name. */
async function command(name: string | undefined): Promise<Command | undefined> {
  const entry = COMMANDS.find(([n]) => n === name);
  if (!entry) return undefined;
  const cmd = await entry[1]();
  if (cmd.spec.name !== name) throw new Error(`command table: "${name}" loads "${cmd.spec.name}"`);
  return cmd;
}

/** The overall help: it lists every command's summary, so it loads them all (at once). */
async function usage(): Promise<string> {
  const all = await Promise.all(COMMANDS.map(([name]) => command(name) as Promise<Command>));
  const w = Math.max(...all.map((c) => c.spec.name.length));
  return [
    'claude-telemetry: see what Claude Code agents do, with an audit trail you can verify.',
    '',
    'Usage: claude-telemetry <command> [options]',
    '',
    'Commands:',
    ...all.map((c) => `  ${c.spec.name.padEnd(w)}  ${c.spec.summary}`),
    '',
    "Run `claude-telemetry <command> --help` for a command's options.",
    'Data dir: $CLAUDE_TELEMETRY_HOME (default ~/.claude-telemetry).',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const sub = name === 'help' ? await command(rest[0]) : undefined;
    out.write(sub ? helpText(sub.spec) : await usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    const { TELEMETRY_VERSION } = await import('../collector/pipeline.ts');
    out.write(`${TELEMETRY_VERSION}\n`);
    return 0;
  }
  const cmd = await command(name);
  if (!cmd) {
    out.error(`claude-telemetry: unknown command "${name}"\n\n${await usage()}`);
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
    out.error(`claude-telemetry ${name}: ${(err as Error)?.message ?? String(err)}\n`);
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
