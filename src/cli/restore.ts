import { resolve } from 'node:path';
import { dataPaths } from '../config/paths.ts';
import { restoreBackup } from '../ops/backup.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural } from './format.ts';

const restoreSpec = {
  name: 'restore',
  summary: 'Check a backup archive and restore it into the data dir (collector stopped).',
  usage: 'restore FILE [--force] [--dry-run] [--json]',
  options: { force: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  positionals: true,
  help: [
    '--force               replace a data dir that already holds events (the old files are kept in replaced-<time>/)',
    '--dry-run             only check the archive (checksums, audit chain, store) and say what would change',
    '--json                machine-readable report',
  ],
  examples: ['claude-telemetry restore backup.tar.gz --dry-run', 'claude-telemetry restore backup.tar.gz'],
} satisfies CommandSpec<Options>;

export const restore: Command = {
  spec: restoreSpec,
  async run(argv) {
    const { values, positionals } = parse(restoreSpec, argv);
    if (positionals.length !== 1) throw new UsageError('restore: give exactly one archive file');
    const archive = resolve(positionals[0] as string);
    const paths = dataPaths();
    const r = await restoreBackup(paths, archive, {
      ...(values.force ? { force: true } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
    if (values.json) {
      printJson(r);
      return 0;
    }
    const m = r.check.manifest;
    println(
      `archive OK: ${plural(m.files.length, 'file')} match the manifest; audit log verified ` +
        `(${plural(r.check.auditEntries, 'entry', 'entries')}, ${plural(r.check.checkpoints, 'signed checkpoint')}); ` +
        `${plural(m.counts.events, 'event')} in the store`,
    );
    println(`made ${m.created_at} on ${m.host} by version ${m.telemetry_version}`);
    if (r.dryRun) {
      println(`dry run: would restore ${r.restored.join(', ')} into ${paths.home}; nothing changed`);
      return 0;
    }
    println(`restored ${r.restored.join(', ')} into ${paths.home}`);
    if (r.replacedDir) println(`the files it replaced are in ${r.replacedDir}`);
    println('next: claude-telemetry start');
    return 0;
  },
};
