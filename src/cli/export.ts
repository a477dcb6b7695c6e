import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { dataPaths } from '../config/paths.ts';
import {
  EXPORT_FORMATS,
  type ExportFilter,
  type ExportFormat,
  exportEvents,
  progressBar,
} from '../ops/export.ts';
import { Store } from '../store/index.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, out } from './command.ts';
import { EVENT_FILTER_HELP, EVENT_FILTER_OPTIONS, eventFilter } from './filters.ts';
import { plural } from './format.ts';

const exportSpec = {
  name: 'export',
  summary: 'Export events as JSONL or CSV, streamed (any size, constant memory).',
  usage: 'export --format jsonl|csv [--since T] [--until T] [filters] [--output FILE]',
  options: {
    format: { type: 'string' },
    ...EVENT_FILTER_OPTIONS,
    output: { type: 'string', short: 'o' },
  },
  help: [
    '--format F            jsonl (full events, one per line) or csv (fixed columns, see docs/operations.md)',
    ...EVENT_FILTER_HELP,
    '-o, --output FILE     write to FILE (mode 0600) instead of stdout',
  ],
  examples: [
    'claude-telemetry export --format jsonl --since 7d -o last-week.jsonl',
    'claude-telemetry export --format csv --tool Bash > bash.csv',
  ],
} satisfies CommandSpec<Options>;

export const exportCmd: Command = {
  spec: exportSpec,
  async run(argv) {
    const { values } = parse(exportSpec, argv);
    const format = values.format as ExportFormat | undefined;
    if (format === undefined || !EXPORT_FORMATS.includes(format)) {
      throw new UsageError(`export: --format must be jsonl or csv${format ? `, got "${format}"` : ''}`);
    }
    const paths = dataPaths();
    let store: Store;
    try {
      store = Store.open(paths.storeFile, { readonly: true });
    } catch (err) {
      throw new Error(
        `cannot open the store at ${paths.storeFile} (${(err as Error).message}); start the collector once with: claude-telemetry start`,
      );
    }
    try {
      const filter: ExportFilter = eventFilter(values, store);
      const tty = process.stderr.isTTY === true;
      let lastDraw = 0;
      const onProgress = tty
        ? (done: number, total: number) => {
            const now = Date.now();
            if (now - lastDraw < 100 && done < total) return;
            lastDraw = now;
            process.stderr.write(`\rexporting ${progressBar(done, total)}`);
          }
        : undefined;
      const opts = { format, filter, ...(onProgress ? { onProgress } : {}) };
      let n: number;
      if (values.output) {
        // Written beside the target and renamed when complete: a failed export leaves no half file behind.
        const partial = `${values.output}.partial`;
        const file = createWriteStream(partial, { mode: 0o600 });
        try {
          n = await exportEvents(store, file, opts);
          file.end();
          await finished(file);
          renameSync(partial, values.output);
        } catch (err) {
          file.destroy();
          rmSync(partial, { force: true });
          throw err;
        }
      } else {
        n = await exportEvents(store, process.stdout, opts);
      }
      if (tty) process.stderr.write('\n');
      out.error(`exported ${plural(n, 'event')} (${format})${values.output ? ` to ${values.output}` : ''}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};
