import { rmSync } from 'node:fs';
import { readEntries, verifyAudit } from '../audit/index.ts';
import { copyAuditToStore } from '../collector/audit-to-store.ts';
import { runningPid } from '../collector/control.ts';
import { dataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';
import { plural } from './format.ts';

const verifySpec = {
  name: 'verify',
  summary:
    'Check the audit log: hash chain, sequence, signed checkpoints. Exit 0 = intact, 1 = tampered or truncated.',
  usage: 'verify [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                machine-readable report'],
} satisfies CommandSpec<Options>;

export const verify: Command = {
  spec: verifySpec,
  async run(argv) {
    const { values } = parse(verifySpec, argv);
    const paths = dataPaths();
    const r = await verifyAudit(paths.audit, { keysDir: paths.keys });
    if (values.json) printJson(r);
    else if (r.ok) {
      println(`OK: ${plural(r.entries, 'entry', 'entries')}, ${plural(r.checkpoints, 'signed checkpoint')}`);
      println(
        r.unanchoredTail > 0
          ? `unanchored tail: ${r.unanchoredTail} entries after the last checkpoint (not yet covered by a signature)`
          : 'every entry is covered by a signed checkpoint',
      );
    } else {
      const e = r.firstError;
      println(`FAILED: ${e?.message ?? 'unknown problem'}`);
      if (e?.seq !== undefined)
        println(
          `first bad entry: seq ${e.seq}${e.file ? ` in ${e.file}` : ''}${e.line ? ` line ${e.line}` : ''}`,
        );
      println(`checked ${plural(r.entries, 'entry', 'entries')}, ${plural(r.checkpoints, 'checkpoint')}`);
    }
    return r.ok ? 0 : 1;
  },
};

const reindexSpec = {
  name: 'reindex',
  summary: 'Rebuild the store from the audit log (the source of truth). The collector must be stopped.',
  usage: 'reindex [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                print {events} as JSON when done'],
} satisfies CommandSpec<Options>;

export const reindex: Command = {
  spec: reindexSpec,
  async run(argv) {
    const { values } = parse(reindexSpec, argv);
    const paths = dataPaths();
    const pid = runningPid(paths);
    if (pid !== undefined) {
      throw new Error(`the collector is running (pid ${pid}); stop it first: claude-telemetry stop`);
    }
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${paths.storeFile}${suffix}`, { force: true });
    const store = Store.open(paths.storeFile);
    let n = 0;
    const tty = process.stderr.isTTY && !values.json;
    try {
      n = await copyAuditToStore(store, readEntries(paths.audit, 1), (total) => {
        if (tty) process.stderr.write(`\rreindexed ${total} events`);
      });
    } finally {
      store.close();
    }
    if (tty) process.stderr.write('\n');
    if (values.json) printJson({ events: n });
    else out.write(`store rebuilt from the audit log: ${n} events\n`);
    return 0;
  },
};
