import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { dataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { type ImportProgress, importTranscripts } from '../usage/tailer.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';

const importSpec = {
  name: 'import',
  summary: 'Read token usage from Claude Code transcripts into the store (only bytes not read before).',
  usage: 'import [--dir DIR] [--json]',
  options: { dir: { type: 'string' }, json: { type: 'boolean' } },
  help: [
    '--dir DIR             where the transcripts are (default ~/.claude/projects, or',
    '                      $CLAUDE_CONFIG_DIR/projects)',
    '--json                print the totals as JSON (no progress bar)',
  ],
  examples: ['claude-telemetry import', 'claude-telemetry import --dir ~/backup/claude-projects'],
} satisfies CommandSpec<Options>;

function defaultDir(): string {
  const cfg = process.env.CLAUDE_CONFIG_DIR;
  return join(cfg && cfg.trim() !== '' ? resolve(cfg) : join(homedir(), '.claude'), 'projects');
}

/** `[#####.....]  42%  120.5/300.0 MB  3/12 files` on one line, redrawn in place on a terminal. */
function bar(p: ImportProgress): string {
  const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 1;
  const w = 30;
  const full = Math.round(frac * w);
  const mb = (n: number) => (n / 1048576).toFixed(1);
  return `[${'#'.repeat(full)}${'.'.repeat(w - full)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB  ${p.filesDone}/${p.files} files`;
}

export const importCmd: Command = {
  spec: importSpec,
  async run(argv) {
    const { values } = parse(importSpec, argv);
    const dir = values.dir !== undefined ? resolve(values.dir) : defaultDir();
    const paths = dataPaths();
    const store = Store.open(paths.storeFile);
    const tty = !values.json && process.stderr.isTTY === true;
    let lastDraw = 0;
    const t = performance.now();
    try {
      const r = await importTranscripts(store, dir, (p) => {
        if (values.json) return;
        const now = performance.now();
        const done = p.filesDone === p.files;
        if (!done && now - lastDraw < 100) return;
        lastDraw = now;
        if (tty) out.error(`\r${bar(p)}`);
        else if (done) out.error(`${bar(p)}\n`);
      });
      if (tty) out.error('\n');
      const seconds = (performance.now() - t) / 1000;
      if (values.json) printJson({ dir, ...r, seconds: Math.round(seconds * 1000) / 1000 });
      else {
        println(`${r.files} transcripts under ${dir}`);
        println(
          `read ${(r.bytes / 1048576).toFixed(1)} MB in ${seconds.toFixed(2)} s: ${r.records} usage lines, ${r.added} new API responses`,
        );
        println('next: claude-telemetry cost --by project');
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
