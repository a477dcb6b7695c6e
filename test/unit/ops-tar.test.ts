import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extractTarGz, safeMemberName, TarError, TarGzWriter, tarHeader } from '../../src/ops/tar.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ct-tar-'));
  dirs.push(d);
  return d;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function writeArchive(dir: string, files: Record<string, Buffer>): Promise<string> {
  const src = join(dir, 'src');
  mkdirSync(src);
  const archive = join(dir, 'a.tar.gz');
  const w = new TarGzWriter(archive);
  let i = 0;
  for (const [name, data] of Object.entries(files)) {
    if (i++ % 2 === 0) {
      const p = join(src, String(i));
      writeFileSync(p, data);
      await w.addFile(name, p, { bytes: data.length, mode: 0o640, mtimeMs: Date.now() });
    } else await w.addBuffer(name, data, 0o600);
  }
  await w.close();
  return archive;
}

const FILES: Record<string, Buffer> = {
  'empty.txt': Buffer.alloc(0),
  'exactly-one-block.bin': Buffer.alloc(512, 7),
  'a/b/c/nested.json': Buffer.from('{"x":1}\n'),
  [`${'deep/'.repeat(30)}long-name-beyond-100-bytes.jsonl`]: Buffer.from('line\n'.repeat(1000)),
  'big.bin': Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251)),
};

describe('tar.gz', () => {
  test('round trip: names (long ones split into prefix), sizes, bytes and hashes survive', async () => {
    const dir = tmp();
    const archive = await writeArchive(dir, FILES);
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    const out = join(dir, 'out');
    mkdirSync(out);
    const members = await extractTarGz(archive, out);
    assert.deepEqual(
      members.map((m) => m.name),
      Object.keys(FILES),
    );
    for (const m of members) {
      const want = FILES[m.name] as Buffer;
      assert.equal(m.size, want.length);
      assert.equal(m.sha256, sha(want));
      assert.deepEqual(readFileSync(join(out, m.name)), want);
    }
  });

  test('the system tar reads our archives', async (t) => {
    if (spawnSync('tar', ['--version']).status !== 0) return t.skip('no tar on PATH');
    const dir = tmp();
    const archive = await writeArchive(dir, FILES);
    const r = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), Object.keys(FILES));
  });

  test('a truncated archive is refused, naming the member it stopped in', async () => {
    const dir = tmp();
    const archive = await writeArchive(dir, FILES);
    truncateSync(archive, Math.floor(statSync(archive).size * 0.6));
    const out = join(dir, 'out');
    mkdirSync(out);
    await assert.rejects(extractTarGz(archive, out), (err: TarError) => {
      assert.ok(err instanceof TarError);
      assert.ok(err.member !== undefined && err.member in FILES, `names a member: ${err.message}`);
      return true;
    });
  });

  test('unsafe names are refused when writing and when reading', async () => {
    for (const bad of ['/etc/passwd', '../x', 'a/../../x', 'a//b', './a', ''])
      assert.equal(safeMemberName(bad), false);
    assert.throws(() => tarHeader('../escape', 0, 0o600, 0, '0'), TarError);
    // An archive made elsewhere with a '..' member: refused before anything is written outside.
    const h = tarHeader('ok-name', 1, 0o600, 0, '0');
    h.write('../evil\0\0', 0, 'utf8');
    h.write('        ', 148, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const dir = tmp();
    const archive = join(dir, 'evil.tar.gz');
    writeFileSync(archive, gzipSync(Buffer.concat([h, Buffer.alloc(512, 0x41), Buffer.alloc(1024)])));
    const out = join(dir, 'out');
    mkdirSync(out);
    await assert.rejects(extractTarGz(archive, out), /unsafe member name/);
  });

  test('a damaged header is refused, naming the member before it', async () => {
    const dir = tmp();
    const tarBytes = Buffer.concat([
      tarHeader('first', 3, 0o600, 0, '0'),
      Buffer.from('abc'),
      Buffer.alloc(509),
      tarHeader('second', 0, 0o600, 0, '0'),
      Buffer.alloc(1024),
    ]);
    tarBytes[1024 + 10] = 0x5a; // inside the second header's name: its checksum no longer matches
    const archive = join(dir, 'bad.tar.gz');
    writeFileSync(archive, gzipSync(tarBytes));
    const out = join(dir, 'out');
    mkdirSync(out);
    await assert.rejects(extractTarGz(archive, out), /the member after first\): checksum mismatch/);
  });
});
