import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';

/** The shipped provisioning files: grafana/ at the package root (next to dist/ and src/). */
export const GRAFANA_DIR = fileURLToPath(new URL('../../grafana/', import.meta.url));

const spec = {
  name: 'grafana',
  summary: 'Write the Grafana provisioning files (Loki datasource and four dashboards) to a folder.',
  usage: 'grafana export [--dir D] [--json]',
  options: { dir: { type: 'string' }, json: { type: 'boolean' } },
  help: [
    '--dir D               where to write them (default ./grafana)',
    '--json                print the files written as JSON',
  ],
  examples: [
    'claude-telemetry grafana export --dir /etc/grafana/claude-telemetry',
    'then: provisioning/datasources and provisioning/dashboards into Grafana, dashboards/*.json where the provider points',
  ],
  positionals: true,
} satisfies CommandSpec<Options>;

export const grafana: Command = {
  spec,
  async run(argv) {
    const { values, positionals } = parse(spec, argv);
    if (positionals[0] !== 'export' || positionals.length > 1)
      throw new UsageError('grafana takes one subcommand: export');
    if (!existsSync(GRAFANA_DIR)) throw new Error(`the provisioning files are missing (${GRAFANA_DIR})`);
    const dir = resolve(values.dir ?? 'grafana');
    if (dir === resolve(GRAFANA_DIR))
      throw new UsageError('--dir is the shipped folder itself: choose another');
    mkdirSync(dir, { recursive: true });
    const written: string[] = [];
    for (const sub of ['provisioning/datasources', 'provisioning/dashboards', 'dashboards']) {
      cpSync(join(GRAFANA_DIR, sub), join(dir, sub), { recursive: true });
      written.push(join(dir, sub));
    }
    if (values.json) printJson({ dir, written });
    else {
      for (const w of written) println(`wrote ${w}`);
      println(
        'datasource URL: http://localhost:3100 (edit provisioning/datasources if the collector is elsewhere)',
      );
    }
    return 0;
  },
};
