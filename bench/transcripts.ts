/**
 * Transcript import throughput: a synthetic Claude Code transcript built from the captured real lines (both
 * versions, main and subagent), each copy with fresh message and request ids and with tool results grown to
 * file-read sizes, imported into a fresh store as `claude-telemetry import` does. Prints MB/s of JSONL.
 * BENCH_TRANSCRIPT_MB sets the size (default 192).
 */
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/store/index.ts';
import { importTranscripts } from '../src/usage/tailer.ts';
import { readTranscript } from '../src/usage/transcripts.ts';
import { round, tempHome } from './util.ts';

const SAMPLES = new URL('../test/fixtures/claude-code/', import.meta.url);

function templates(): string[] {
  const lines: string[] = [];
  for (const f of readdirSync(SAMPLES).filter((n) => /^transcript\..*\.jsonl$/.test(n))) {
    for (const l of readFileSync(new URL(f, SAMPLES), 'utf8').split('\n')) if (l.trim() !== '') lines.push(l);
  }
  // A file read's worth of text in tool results (real sessions are dominated by them).
  const body = 'export function handler(req, res) {\\n  return res.json({ ok: true });\\n}\\n'.repeat(100);
  return lines.map((l) =>
    l.includes('"tool_result"') ? l.replace(/"content":"([^"\\]|\\.)*"/, `"content":"${body}"`) : l,
  );
}

function writeTranscript(file: string, targetBytes: number): { bytes: number; messages: number } {
  const tpl = templates();
  const fd = openSync(file, 'w');
  let bytes = 0;
  const ids = new Set<string>();
  for (let copy = 0; bytes < targetBytes; copy++) {
    const tag = copy.toString(36);
    let block = '';
    for (const l of tpl) {
      const line = l.replace(/(msg_|req_)mock/g, `$1c${tag}x`);
      if (line.includes('"type":"assistant"')) {
        const o = JSON.parse(line);
        ids.add(`${o.message.id}/${o.requestId}`);
      }
      block += `${line}\n`;
    }
    bytes += writeSync(fd, block);
  }
  closeSync(fd);
  return { bytes, messages: ids.size };
}

export async function runTranscriptsBench() {
  const mb = Number(process.env.BENCH_TRANSCRIPT_MB ?? 192);
  const home = tempHome('transcripts');
  const dir = join(home.home, 'projects', '-home-dev-project');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, '00000000-0000-4000-8000-000000000000.jsonl');
  const made = writeTranscript(file, mb << 20);
  // Warm the page cache, so the figure is the reader's, not the disk's.
  for await (const _ of readTranscript(file, 0, { chunkBytes: 4 << 20 })) {
    // reading only
  }
  let t = performance.now();
  let scanned = 0;
  for await (const b of readTranscript(file, 0, { chunkBytes: 4 << 20 })) scanned += b.records.length;
  const scanS = (performance.now() - t) / 1000;
  const store = Store.open(home.storeFile);
  const heapBefore = process.memoryUsage().rss;
  t = performance.now();
  const r = await importTranscripts(store, join(home.home, 'projects'), undefined, { chunkBytes: 4 << 20 });
  const importS = (performance.now() - t) / 1000;
  const rssGrowth = process.memoryUsage().rss - heapBefore;
  store.close();
  rmSync(home.home, { recursive: true, force: true });
  if (r.added !== made.messages)
    throw new Error(`imported ${r.added} messages, the file has ${made.messages}`);
  return {
    fileMB: round(made.bytes / 1048576, 1),
    assistantLines: scanned,
    messages: made.messages,
    importMBps: round(made.bytes / 1048576 / importS, 1),
    scanOnlyMBps: round(made.bytes / 1048576 / scanS, 1),
    importSeconds: round(importS, 2),
    rssGrowthMB: round(rssGrowth / 1048576, 1),
    targetMBps: 200,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await runTranscriptsBench(), null, 2)}\n`);
}
