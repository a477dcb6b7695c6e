import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { type HealthCheck, runHealthChecks } from '../ops/health.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural } from './format.ts';

const MARK: Record<HealthCheck['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function healthCommand(name: string, summary: string): Command {
  const spec = {
    name,
    summary,
    usage: `${name} [--json]`,
    options: { json: { type: 'boolean' } },
    help: ['--json                every check as JSON: {ok, checks: [{name, status, detail, fix}]}'],
  } satisfies CommandSpec<Options>;
  return {
    spec,
    async run(argv) {
      const { values } = parse(spec, argv);
      const paths = dataPaths();
      const checks = await runHealthChecks(paths, loadConfig(paths));
      const failed = checks.filter((c) => c.status === 'fail');
      const warned = checks.filter((c) => c.status === 'warn');
      if (values.json) printJson({ ok: failed.length === 0, checks });
      else {
        const w = Math.max(...checks.map((c) => c.name.length));
        for (const c of checks) {
          println(`${MARK[c.status]}  ${c.name.padEnd(w)}  ${c.detail}`);
          if (c.fix) println(`${' '.repeat(w + 8)}fix: ${c.fix}`);
        }
        println(
          failed.length === 0
            ? `healthy${warned.length > 0 ? ` (${plural(warned.length, 'warning')})` : ''}`
            : `${plural(failed.length, 'check')} failed`,
        );
      }
      return failed.length === 0 ? 0 : 1;
    },
  };
}

export const health = healthCommand(
  'health',
  'Check the installation: Node, data dir, ports, collector, hooks, spool, disk, audit log, store.',
);
export const doctor = healthCommand('doctor', 'Same as health.');
