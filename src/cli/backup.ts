import { resolve } from 'node:path';
import { dataPaths } from '../config/paths.ts';
import { createBackup, planBackup, SIGNING_KEY_MEMBER } from '../ops/backup.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';
import { plural } from './format.ts';

const backupSpec = {
  name: 'backup',
  summary: 'Write the store, audit log, keys and config to one .tar.gz with a checksummed manifest.',
  usage: 'backup [--output FILE] [--dry-run] [--json]',
  options: {
    output: { type: 'string', short: 'o' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  help: [
    '-o, --output FILE     the archive to write (default: claude-telemetry-backup-<time>.tar.gz here)',
    '--dry-run             list what would be saved, write nothing',
    '--json                machine-readable report (the manifest)',
  ],
  examples: ['claude-telemetry backup -o /mnt/usb/telemetry.tar.gz', 'claude-telemetry restore FILE'],
} satisfies CommandSpec<Options>;

/** Bytes as decimal megabytes with one decimal, as the maintenance commands print them. */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export const backup: Command = {
  spec: backupSpec,
  async run(argv) {
    const { values } = parse(backupSpec, argv);
    const paths = dataPaths();
    if (values['dry-run']) {
      const plan = planBackup(paths);
      if (values.json) printJson({ dryRun: true, files: plan });
      else {
        for (const p of plan) println(`${p.path.padEnd(40)} ${mb(p.bytes)}`);
        println(`dry run: ${plural(plan.length, 'file')} would be saved; nothing written`);
      }
      return 0;
    }
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const dest = resolve(values.output ?? `claude-telemetry-backup-${stamp}.tar.gz`);
    const r = await createBackup(paths, dest);
    const holdsKey = r.manifest.files.some((f) => f.path === SIGNING_KEY_MEMBER);
    if (holdsKey) {
      out.error(
        `warning: ${dest} holds the audit signing key (${SIGNING_KEY_MEMBER}); whoever has it can sign checkpoints. ` +
          'It was written with mode 0600: keep it private.\n',
      );
    }
    if (values.json) {
      printJson({ file: r.file, archiveBytes: r.archiveBytes, ms: r.ms, manifest: r.manifest });
      return 0;
    }
    const c = r.manifest.counts;
    println(`backup written: ${r.file} (${mb(r.archiveBytes)}, ${(r.ms / 1000).toFixed(1)} s)`);
    println(
      `holds: ${plural(c.events, 'event')} in the store, ${plural(c.audit_entries, 'audit entry', 'audit entries')}, ` +
        `${plural(c.checkpoints, 'checkpoint')}, ${plural(c.files, 'file')}`,
    );
    println(`restore with: claude-telemetry restore ${r.file}`);
    return 0;
  },
};
