import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isAlive, runningPid } from '../collector/control.ts';
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { DASHBOARD_RUN_FILE } from '../server/dashboard.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, printJson, println } from './command.ts';

const spec = {
  name: 'dashboard',
  summary: 'Print the web dashboard URL (served by the collector) and open it in a browser.',
  usage: 'dashboard [--no-open] [--json]',
  options: { 'no-open': { type: 'boolean' }, json: { type: 'boolean' } },
  help: ['--no-open             only print the URL', '--json                print {url, running} as JSON'],
} satisfies CommandSpec<Options>;

/** The first browser opener on PATH (xdg-open on Linux desktops, open on macOS). */
function opener(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of process.platform === 'darwin' ? ['open'] : ['xdg-open', 'open']) {
    for (const d of dirs) {
      try {
        accessSync(join(d, name), constants.X_OK);
        return join(d, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The address a running collector's dashboard wrote when it started listening. */
function servedUrl(run: string): string | undefined {
  try {
    const rec = JSON.parse(readFileSync(join(run, DASHBOARD_RUN_FILE), 'utf8')) as {
      pid?: number;
      url?: string;
    };
    return rec.pid !== undefined && isAlive(rec.pid) ? rec.url : undefined;
  } catch {
    return undefined;
  }
}

export const dashboard: Command = {
  spec,
  async run(argv) {
    const { values } = parse(spec, argv);
    const paths = dataPaths();
    const config = loadConfig(paths);
    const running = runningPid(paths) !== undefined;
    const url = running ? servedUrl(paths.run) : undefined;
    const token = config.dashboard.token ? `/?token=${encodeURIComponent(config.dashboard.token)}` : '';
    if (values.json) {
      printJson({ running, url: url ? `${url}${token}` : null });
      return url ? 0 : 1;
    }
    if (!url) {
      if (!running)
        println('The collector is not running: start it with `claude-telemetry start`, then run this again.');
      else if (!config.dashboard.enabled)
        println('The dashboard is disabled (dashboard.enabled: false in config.yaml).');
      else println('The collector runs but does not serve the dashboard: see its log (logs/collector.log).');
      return 1;
    }
    println(`${url}${token}`);
    const open = values['no-open'] ? undefined : opener();
    if (open) {
      const child = spawn(open, [`${url}${token}`], { stdio: 'ignore', detached: true });
      child.on('error', () => {});
      child.unref();
    }
    return 0;
  },
};
