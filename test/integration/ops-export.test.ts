/**
 * A large export through the compiled CLI runs with a JavaScript heap far smaller than its output: it can
 * only succeed by streaming.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { Store } from '../../src/store/index.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import { CLI } from '../helpers.ts';
import { cleanupHomes, opsHome, syntheticEvents } from '../ops-helpers.ts';

after(cleanupHomes);

const N = 150_000;
const HEAP_MB = 24;

test(`exporting ${N} events (over 100 MB of output) works within a ${HEAP_MB} MB heap`, {
  timeout: 120_000,
}, async () => {
  const paths = opsHome('export-big');
  const store = Store.open(paths.storeFile);
  const t0 = Date.UTC(2026, 1, 1);
  for (let off = 0; off < N; off += 5000) {
    const events = syntheticEvents(5000, t0 + off * 10, `big${off}`);
    store.insertBatch(events.map((event, i) => ({ event, auditSeq: off + i + 1 })));
  }
  store.close();

  const run = (format: string, file: string) => {
    const started = Date.now();
    const r = spawnSync(
      process.execPath,
      [`--max-old-space-size=${HEAP_MB}`, CLI, 'export', '--format', format, '--output', file],
      { env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home }, encoding: 'utf8', timeout: 90_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`exported ${N} events \\(${format}\\)`));
    return Date.now() - started;
  };

  const jsonl = join(paths.home, 'all.jsonl');
  const ms = run('jsonl', jsonl);
  const size = statSync(jsonl).size;
  assert.ok(size > 4 * HEAP_MB * 1024 * 1024, `output (${size} bytes) is several times the heap limit`);
  assert.equal(statSync(jsonl).mode & 0o777, 0o600);
  let lines = 0;
  let last = 0;
  for await (const line of createInterface({ input: createReadStream(jsonl) })) {
    const e = JSON.parse(line) as TelemetryEvent;
    const t = Date.parse(e.timestamp);
    assert.ok(t >= last, 'time order');
    last = t;
    lines++;
  }
  assert.equal(lines, N);
  process.stderr.write(`# jsonl export: ${N} events, ${(size / 1e6).toFixed(0)} MB in ${ms} ms\n`);

  const csv = join(paths.home, 'all.csv');
  run('csv', csv);
  const rows = readFileSync(csv, 'utf8').split('\r\n');
  assert.equal(rows.at(-1), '');
  assert.equal(rows.length - 2, N);
});

test('usage errors: missing or unknown --format exits 2 and says what to do', () => {
  const paths = opsHome('export-usage');
  for (const args of [['export'], ['export', '--format', 'xml']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env: { ...process.env, CLAUDE_TELEMETRY_HOME: paths.home },
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--format must be jsonl or csv/);
    assert.match(r.stderr, /claude-telemetry export --help/);
  }
});
