import { runningPid } from '../collector/control.ts';
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { runCleanup } from '../ops/retention.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { mb } from './backup.ts';
import { type Command, printJson, println } from './command.ts';

const cleanupSpec = {
  name: 'cleanup',
  summary: 'Apply the retention limits of config.yaml: old events, audit archiving, quarantine, logs.',
  usage: 'cleanup [--dry-run] [--json]',
  options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  help: [
    '--dry-run             say what would be removed or archived, change nothing',
    '--json                machine-readable report',
  ],
  examples: ['claude-telemetry cleanup --dry-run', 'claude-telemetry cleanup'],
} satisfies CommandSpec<Options>;

/** Past-tense stems of the report's verbs -> their base form, for the dry-run wording. */
const DRY_VERBS: Record<string, string> = {
  delet: 'delete',
  archiv: 'archive',
  remov: 'remove',
  rotat: 'rotate',
};

export const cleanup: Command = {
  spec: cleanupSpec,
  async run(argv) {
    const { values } = parse(cleanupSpec, argv);
    const paths = dataPaths();
    const config = loadConfig(paths);
    const collector = runningPid(paths);
    const report = await runCleanup(paths, config, {
      dryRun: values['dry-run'] === true,
      // A full VACUUM would hold the store away from a running collector for its whole length.
      allowFullVacuum: collector === undefined,
    });
    if (values.json) {
      printJson(report);
      return 0;
    }
    if (report.actions.length === 0) {
      println(
        `nothing ${report.dryRun ? 'would be' : 'was'} removed or archived: every kind is within its limits`,
      );
    }
    for (const a of report.actions) {
      const text = report.dryRun
        ? a.action.replace(/^(\w+)ed\b/, (_, stem: string) => `would ${DRY_VERBS[stem] ?? stem}`)
        : a.action;
      println(`${a.kind.padEnd(10)} ${text}${a.bytes > 0 ? ` (${mb(a.bytes)})` : ''}`);
    }
    for (const n of report.notes) println(`note: ${n}`);
    if (report.dryRun) println('dry run: nothing changed');
    return 0;
  },
};
