import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClaudeVersionLookup } from '../../src/collector/claude-version.ts';
import { FIXTURES } from '../helpers.ts';

test('reads the Claude Code version from real transcripts of both versions', () => {
  const v = new ClaudeVersionLookup();
  assert.equal(v.lookup('a', join(FIXTURES, 'transcript.main.2.1.329.jsonl')), '2.1.329');
  assert.equal(v.lookup('b', join(FIXTURES, 'transcript.main.2.1.197.jsonl')), '2.1.197');
  assert.equal(v.lookup('c', join(FIXTURES, 'transcript.subagent.2.1.329.jsonl')), '2.1.329');
});

test('a transcript that does not exist yet is looked at again later; the answer is then remembered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-version-'));
  try {
    const file = join(dir, 't.jsonl');
    const v = new ClaudeVersionLookup();
    assert.equal(v.lookup('s', file), undefined);
    writeFileSync(file, '{"type":"user","version":"2.1.400"}\n');
    assert.equal(v.lookup('s', file), undefined, 'not re-read at once');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(v.lookup('s', file), '2.1.400');
    rmSync(file);
    assert.equal(v.lookup('s', file), '2.1.400', 'remembered per session');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the newest version in the tail wins; a huge last line falls back to the first lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-version-'));
  try {
    const a = join(dir, 'a.jsonl');
    writeFileSync(a, '{"version":"2.1.197"}\n{"version":"2.1.329"}\n');
    assert.equal(new ClaudeVersionLookup().lookup('a', a), '2.1.329');
    const b = join(dir, 'b.jsonl');
    writeFileSync(b, `{"version":"2.1.300"}\n{"type":"user","content":"${'x'.repeat(200_000)}"}\n`);
    assert.equal(new ClaudeVersionLookup().lookup('b', b), '2.1.300');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
