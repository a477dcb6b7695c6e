import assert from 'node:assert/strict';
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config/config.ts';
import { migrate, SCHEMA_VERSION, Store, schemaVersion } from '../../src/store/index.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { costReport } from '../../src/usage/report.ts';
import { findTranscripts, importTranscripts, tailTranscript } from '../../src/usage/tailer.ts';
import { readTranscript } from '../../src/usage/transcripts.ts';
import { REPO } from '../helpers.ts';

const PROJECTS = join(REPO, 'test', 'fixtures', 'transcripts', 'projects');

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `ct-usage-${tag}-`));

/** The plain way to count: parse every line, keep the last usage per message id + request id. */
function naive(files: string[]) {
  const seen = new Map<string, { input: number; output: number; session: string; agent: string }>();
  let assistantLines = 0;
  for (const f of files) {
    for (const l of readFileSync(f, 'utf8').split('\n')) {
      if (l.trim() === '') continue;
      const o = JSON.parse(l);
      if (o.type !== 'assistant') continue;
      assistantLines++;
      seen.set(`${o.message.id}/${o.requestId}`, {
        input: o.message.usage.input_tokens,
        output: o.message.usage.output_tokens,
        session: o.sessionId,
        agent: o.agentId ?? '',
      });
    }
  }
  const sum = (pick: (v: { input: number; output: number; session: string; agent: string }) => boolean) => {
    let input = 0;
    let output = 0;
    for (const v of seen.values())
      if (pick(v)) {
        input += v.input;
        output += v.output;
      }
    return { input, output };
  };
  return { messages: seen.size, assistantLines, sum };
}

function assistantLine(i: number, padding = '') {
  return JSON.stringify({
    parentUuid: null,
    isSidechain: false,
    type: 'assistant',
    message: {
      id: `msg_${i}`,
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: `answer ${i} ${padding}` }],
      usage: {
        input_tokens: 100,
        cache_creation_input_tokens: 10,
        cache_read_input_tokens: 1000,
        output_tokens: 7,
      },
    },
    requestId: `req_${i}`,
    uuid: `u-${i}`,
    timestamp: '2026-11-21T10:00:00.000Z',
    cwd: '/home/dev/project',
    sessionId: 'synthetic-session',
  });
}

function userLine(i: number, padding: string) {
  return JSON.stringify({
    type: 'user',
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: padding }] },
    uuid: `v-${i}`,
    sessionId: 'synthetic-session',
  });
}

describe('transcripts: usage from the captured Claude Code versions', async () => {
  const files = (await findTranscripts(PROJECTS)).map((f) => f.file);

  test('finds both versions, main and subagent transcripts', () => {
    assert.equal(files.length, 4);
    assert.equal(files.filter((f) => f.includes('/subagents/agent-')).length, 2);
  });

  test('import counts every API response once; totals equal the transcripts', async () => {
    const store = Store.open(':memory:');
    const r = await importTranscripts(store, PROJECTS);
    const expect = naive(files);
    assert.ok(expect.assistantLines > expect.messages, 'the fixtures repeat a multi-block message');
    assert.equal(r.added, expect.messages);
    const report = costReport(store, new Pricing(), { by: 'agent' });
    assert.equal(report.total.messages, expect.messages);
    const all = expect.sum(() => true);
    assert.equal(report.total.input, all.input);
    assert.equal(report.total.output, all.output);
    for (const row of report.rows) {
      const e = expect.sum((v) => v.session === row.session_id && v.agent === row.agent_id);
      assert.equal(row.input, e.input, row.key);
      assert.equal(row.output, e.output, row.key);
    }
    // Two sessions, each with its main agent and one subagent of the type its meta.json names.
    assert.equal(report.rows.length, 4);
    assert.deepEqual(
      report.rows.filter((x) => x.agent_id !== '').map((x) => x.agent_type),
      ['general-purpose', 'general-purpose'],
    );
    assert.ok((report.total.cost ?? 0) > 0);
    assert.deepEqual(report.total.unpriced, []);
    // A second import reads nothing and adds nothing.
    const again = await importTranscripts(store, PROJECTS);
    assert.equal(again.bytes, 0);
    assert.equal(again.added, 0);
    store.close();
  });

  test('duplicated lines change nothing', async () => {
    const dir = tmp('dup');
    const main = files.find((f) => f.endsWith('2a8611e7-0806-4a69-93cf-1ec49e3ad0ca.jsonl')) as string;
    const lines = readFileSync(main, 'utf8').split('\n').filter(Boolean);
    const doubled = join(dir, 'doubled.jsonl');
    writeFileSync(doubled, `${lines.flatMap((l) => [l, l]).join('\n')}\n`);
    const store = Store.open(':memory:');
    const r = await tailTranscript(store, doubled);
    const expect = naive([main]);
    assert.equal(r.records, expect.assistantLines * 2);
    assert.equal(r.added, expect.messages);
    const t = costReport(store, new Pricing()).total;
    assert.equal(t.input, expect.sum(() => true).input);
    store.close();
  });
});

describe('transcripts: incremental reads', () => {
  test('a truncated last line waits for its end; only new bytes are read', async () => {
    const dir = tmp('trunc');
    const file = join(dir, 's.jsonl');
    const full = `${assistantLine(1)}\n${assistantLine(2)}\n`;
    const cut = full.length - 40;
    writeFileSync(file, full.slice(0, cut));
    const store = Store.open(join(dir, 'events.db'));
    const first = await tailTranscript(store, file);
    assert.equal(first.added, 1);
    assert.equal(first.bytes, assistantLine(1).length + 1);
    assert.equal(store.transcriptOffset(file)?.offset, assistantLine(1).length + 1);
    appendFileSync(file, full.slice(cut));
    const second = await tailTranscript(store, file);
    assert.equal(second.added, 1);
    assert.equal(second.bytes, full.length - first.bytes);
    store.close();
    // The offset is durable: a new store connection resumes at the end.
    const reopened = Store.open(join(dir, 'events.db'));
    appendFileSync(file, `${assistantLine(3)}\n`);
    const third = await tailTranscript(reopened, file);
    assert.equal(third.bytes, assistantLine(3).length + 1);
    assert.equal(third.added, 1);
    assert.equal(costReport(reopened, new Pricing()).total.messages, 3);
    reopened.close();
  });

  test('a file replaced by a shorter one is read from the start', async () => {
    const dir = tmp('replace');
    const file = join(dir, 's.jsonl');
    writeFileSync(file, `${assistantLine(1)}\n${assistantLine(2)}\n`);
    const store = Store.open(':memory:');
    await tailTranscript(store, file);
    writeFileSync(file, `${assistantLine(7)}\n`);
    const r = await tailTranscript(store, file);
    assert.equal(r.added, 1);
    store.close();
  });

  test('a large transcript is read in bounded memory, lines longer than the limit skipped', async () => {
    const dir = tmp('large');
    const file = join(dir, 'big.jsonl');
    const fd = openSync(file, 'w');
    const pad = 'x'.repeat(3000);
    let bytes = 0;
    let messages = 0;
    let block = '';
    for (let i = 0; bytes < 96 << 20; i++) {
      const l = i % 4 === 0 ? assistantLine(i, pad) : userLine(i, pad);
      if (i % 4 === 0) messages++;
      block += `${l}\n`;
      if (block.length > 1 << 20) {
        bytes += writeSync(fd, block);
        block = '';
      }
    }
    // One line of 6 MB (over the 4 MB limit set below), then one more message.
    block += `${userLine(-1, 'y'.repeat(6 << 20))}\n${assistantLine(-2)}\n`;
    messages++;
    bytes += writeSync(fd, block);
    closeSync(fd);
    global.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    let records = 0;
    let read = 0;
    for await (const b of readTranscript(file, 0, { chunkBytes: 1 << 20, maxLineBytes: 4 << 20 })) {
      records += b.records.length;
      read += b.bytes;
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
    }
    assert.equal(read, bytes);
    assert.equal(records, messages);
    assert.ok(peak < 48 << 20, `memory grew by ${Math.round(peak / 1048576)} MB reading ${bytes >> 20} MB`);
  });
});

describe('pricing and the store schema', () => {
  test('configured prices override the list prices; unknown models stay unpriced', () => {
    const cfg = parseConfig({ pricing: { 'claude-sonnet-4-5': { input: 1, output: 2, cache_read: 0 } } });
    const p = new Pricing(cfg.pricing);
    const t = { input: 1e6, output: 1e6, cacheCreation: 1e6, cacheCreation1h: 0, cacheRead: 1e6 };
    assert.equal(p.cost('claude-sonnet-4-5-20250929', t), 1 + 2 + 1.25 + 0);
    assert.equal(p.cost('claude-opus-4-1-20250805', t), 15 + 75 + 18.75 + 1.5);
    assert.equal(p.cost('claude-haiku-4-5[1m]', { ...t, cacheCreation1h: 1e6 }), 1 + 5 + 2 + 0.1);
    assert.equal(p.cost('<synthetic>', t), 0);
    assert.equal(p.cost('gpt-something', t), undefined);
    assert.throws(() => parseConfig({ pricing: { x: { input: -1, output: 1 } } }), /pricing\.x\.input/);
  });

  test('a v3 store migrates to v4 and keeps its events', () => {
    const dir = tmp('mig');
    const file = join(dir, 'events.db');
    const db = new Database(file);
    migrate(db, 3);
    db.prepare("INSERT INTO sessions VALUES ('s1', '/p', 'p', 1, 2, 3, 0, 0, 0, 0, 0)").run();
    assert.equal(schemaVersion(db), 3);
    db.close();
    const store = Store.open(file);
    store.recordUsage([
      {
        message_id: 'm',
        request_id: 'r',
        session_id: 's1',
        agent_id: '',
        agent_type: null,
        project_path: null,
        project_name: null,
        model: 'claude-sonnet-4-5',
        ts: 1,
        input_tokens: 10,
        output_tokens: 5,
        cache_creation_tokens: 0,
        cache_creation_1h_tokens: 0,
        cache_read_tokens: 0,
      },
    ]);
    const r = costReport(store, new Pricing(), { by: 'project' });
    assert.equal(r.rows[0]?.key, 'p');
    assert.equal(store.sessions().length, 1);
    store.close();
    const check = new Database(file);
    assert.equal(schemaVersion(check), SCHEMA_VERSION);
    check.close();
  });
});
