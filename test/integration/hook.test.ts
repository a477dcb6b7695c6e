/**
 * The real capture hook, run the way Claude Code runs it: `sh -c <command>` with the payload on stdin.
 * Whatever happens, the hook must exit 0 and print nothing; a file appears in spool/new only when complete.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dataDirs, hookSource, installHook } from '../../src/capture/install.ts';
import { hookCommand, shQuote } from '../../src/capture/settings.ts';
import * as spool from '../../src/capture/spool.ts';
import { type DataPaths, dataPaths } from '../../src/config/paths.ts';

const FIXTURE = fileURLToPath(
  new URL('../fixtures/claude-code/hook-payloads.full.2.1.329.jsonl', import.meta.url),
);
const PROJECT = '/home/dev/project';
const NAME =
  /^(\d+)\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(project|local|global|demo|unknown)$/;

let root: string;
let paths: DataPaths;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'ct-hook-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

let counter = 0;
function freshHome(): DataPaths {
  const p = dataPaths(join(root, `home-${counter++}`));
  installHook(p);
  return p;
}

const execCommand = (p: DataPaths, scope = 'project') => `exec ${shQuote(p.hook)} ${scope}`;

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

function run(
  command: string,
  input: string | Buffer,
  env: NodeJS.ProcessEnv = { CLAUDE_PROJECT_DIR: PROJECT },
): Run {
  const r = spawnSync('sh', ['-c', command], {
    input,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    maxBuffer: 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertQuiet(r: Run): void {
  assert.equal(r.status, 0, `exit status ${r.status}, stderr: ${r.stderr}`);
  assert.equal(r.stdout.length, 0, `stdout: ${r.stdout}`);
  assert.equal(r.stderr.length, 0, `stderr: ${r.stderr}`);
}

function onlyFile(p: DataPaths): { name: string; content: Buffer } {
  const names = readdirSync(p.spoolNew);
  assert.equal(names.length, 1, `files in new/: ${names.join(', ')}`);
  assert.deepEqual(readdirSync(p.spoolTmp), [], 'tmp/ is left empty');
  const name = names[0]!;
  return { name, content: readFileSync(join(p.spoolNew, name)) };
}

describe('installHook', () => {
  test('creates the data tree (home 0700) and installs the hook (0755), idempotently', () => {
    const p = dataPaths(join(root, 'install'));
    const first = installHook(p);
    assert.equal(first.changed, true);
    for (const d of dataDirs(p)) assert.ok(statSync(d).isDirectory(), d);
    assert.equal(statSync(p.home).mode & 0o777, 0o700);
    assert.equal(statSync(p.hook).mode & 0o777, 0o755);
    assert.deepEqual(readFileSync(p.hook), readFileSync(hookSource()));

    const ino = statSync(p.hook).ino;
    assert.deepEqual(installHook(p), { hook: p.hook, changed: false, created: [] });
    assert.equal(statSync(p.hook).ino, ino, 'not rewritten');

    chmodSync(p.hook, 0o700);
    assert.equal(installHook(p).changed, true);
    assert.equal(statSync(p.hook).mode & 0o777, 0o755);

    writeFileSync(p.hook, '#!/bin/sh\nexit 0\n');
    chmodSync(p.home, 0o755);
    assert.equal(installHook(p).changed, true);
    assert.deepEqual(readFileSync(p.hook), readFileSync(hookSource()));
    assert.equal(statSync(p.home).mode & 0o777, 0o700);
    assert.deepEqual(
      readdirSync(p.bin).filter((n) => n !== 'capture-hook.sh'),
      [],
      'no temp files left',
    );
  });

  test('the hook script is POSIX sh that dash and bash both parse', () => {
    for (const shell of ['sh', 'dash', 'bash']) {
      const which = spawnSync('sh', ['-c', `command -v ${shell}`]);
      if (which.status !== 0) continue;
      const r = spawnSync(shell, ['-n', hookSource()]);
      assert.equal(r.status, 0, `${shell} -n: ${r.stderr}`);
    }
  });
});

describe('capture hook', () => {
  beforeEach(() => {
    paths = freshHome();
  });

  test('a payload lands in new/ behind the CT1 header', () => {
    const payload = readFileSync(FIXTURE, 'utf8').split('\n')[3]!;
    assertQuiet(run(execCommand(paths), payload));
    const { name, content } = onlyFile(paths);
    assert.match(name, NAME);
    assert.equal(content.toString(), `CT1 ${PROJECT}\n${payload}`);
    const rec = spool.readRecord(paths, name);
    assert.equal(rec.projectDir, PROJECT);
    assert.equal(rec.scope, 'project');
    assert.deepEqual(JSON.parse(rec.body.toString()), JSON.parse(payload));
  });

  test('the command connect registers (hook read by the calling shell) writes the same file', () => {
    for (const scope of ['project', 'local', 'global'] as const) {
      const p = freshHome();
      assertQuiet(run(hookCommand(p.hook, scope), '{"x":1}'));
      const { name, content } = onlyFile(p);
      assert.match(name, new RegExp(`\\.${scope}$`));
      assert.equal(content.toString(), `CT1 ${PROJECT}\n{"x":1}`);
    }
  });

  test('scope: demo is kept, anything else becomes unknown', () => {
    assertQuiet(run(execCommand(paths, 'demo'), '{}'));
    assertQuiet(run(execCommand(paths, "'x; rm -rf /'"), '{}'));
    assertQuiet(run(`exec ${shQuote(paths.hook)}`, '{}'));
    const scopes = readdirSync(paths.spoolNew)
      .map((n) => n.split('.').pop())
      .sort();
    assert.deepEqual(scopes, ['demo', 'unknown', 'unknown']);
  });

  test('empty stdin gives a file with just the header', () => {
    assertQuiet(run(execCommand(paths), ''));
    assert.equal(onlyFile(paths).content.toString(), `CT1 ${PROJECT}\n`);
  });

  test('the project dir header is empty when CLAUDE_PROJECT_DIR is unset or holds a newline', () => {
    assertQuiet(run(execCommand(paths), '{}', {}));
    assertQuiet(run(execCommand(paths), '{}', { CLAUDE_PROJECT_DIR: '/a\nCT1 /forged' }));
    for (const name of readdirSync(paths.spoolNew)) {
      assert.equal(readFileSync(join(paths.spoolNew, name), 'utf8'), 'CT1 \n{}');
    }
  });

  test('fleet variables: a CT2 header the spool reader parses; none set keeps CT1', () => {
    const env = {
      CLAUDE_PROJECT_DIR: PROJECT,
      CLAUDE_TELEMETRY_AGENT_ID: 'agent-001',
      CLAUDE_TELEMETRY_AGENT_GROUP: 'dev-team-alpha',
      CLAUDE_TELEMETRY_AGENT_ROLE: 'coordinator',
      CLAUDE_TELEMETRY_WORKFLOW_ID: 'wf-42',
    };
    assertQuiet(run(execCommand(paths), '{"a":1}', env));
    const { name, content } = onlyFile(paths);
    assert.equal(
      content.toString(),
      `CT2 agent-001\tdev-team-alpha\tcoordinator\twf-42\t${PROJECT}\n{"a":1}`,
    );
    const rec = spool.readRecord(paths, name);
    assert.equal(rec.projectDir, PROJECT);
    assert.deepEqual(rec.fleet, {
      agent_id: 'agent-001',
      agent_group: 'dev-team-alpha',
      agent_role: 'coordinator',
      workflow_id: 'wf-42',
    });
    assert.equal(rec.body.toString(), '{"a":1}');

    // Set but empty is not set: the fast path's CT1 line, byte for byte.
    const p = freshHome();
    assertQuiet(run(execCommand(p), '{}', { CLAUDE_PROJECT_DIR: PROJECT, CLAUDE_TELEMETRY_AGENT_ID: '' }));
    const plain = onlyFile(p);
    assert.equal(plain.content.toString(), `CT1 ${PROJECT}\n{}`);
    assert.equal(spool.readRecord(p, plain.name).fleet, undefined);
  });

  test('fleet variables: a value with a tab or newline is dropped, the others kept; tabs in the project dir survive', () => {
    const q = freshHome();
    assertQuiet(
      run(hookCommand(q.hook, 'global'), '{}', {
        CLAUDE_PROJECT_DIR: '/home/dev/with\ttab',
        CLAUDE_TELEMETRY_AGENT_ID: 'a\tforged',
        CLAUDE_TELEMETRY_AGENT_GROUP: 'g\nCT1 /forged',
        CLAUDE_TELEMETRY_WORKFLOW_ID: 'wf',
      }),
    );
    const { name, content } = onlyFile(q);
    assert.equal(content.toString(), 'CT2 \t\t\twf\t/home/dev/with\ttab\n{}');
    const rec = spool.readRecord(q, name);
    assert.deepEqual(rec.fleet, { workflow_id: 'wf' });
    assert.equal(rec.projectDir, '/home/dev/with\ttab');
    assert.equal(rec.scope, 'global');
    // Only the role given: a CT2 line with the role alone.
    const r = freshHome();
    assertQuiet(run(execCommand(r), '{}', { CLAUDE_TELEMETRY_AGENT_ROLE: 'secondary' }));
    const only = onlyFile(r);
    assert.equal(only.content.toString(), 'CT2 \t\tsecondary\t\t\n{}');
    assert.deepEqual(spool.readRecord(r, only.name).fleet, { agent_role: 'secondary' });
    assert.equal(spool.readRecord(r, only.name).projectDir, null);
  });

  test('old and odd headers: CT1 files read as before, a cut CT2 line keeps what it has', () => {
    writeFileSync(join(paths.spoolNew, '1.a.project'), `CT1 ${PROJECT}\n{"old":true}`);
    writeFileSync(join(paths.spoolNew, '2.b.project'), 'CT2 only-agent\t/p\n{}');
    writeFileSync(join(paths.spoolNew, '3.c.project'), '{"no":"header"}');
    const old = spool.readRecord(paths, '1.a.project');
    assert.equal(old.projectDir, PROJECT);
    assert.equal(old.fleet, undefined);
    assert.equal(old.body.toString(), '{"old":true}');
    const cut = spool.readRecord(paths, '2.b.project');
    assert.deepEqual(cut.fleet, { agent_id: 'only-agent' });
    assert.equal(cut.projectDir, '/p');
    const bare = spool.readRecord(paths, '3.c.project');
    assert.equal(bare.projectDir, null);
    assert.equal(bare.body.toString(), '{"no":"header"}');
  });

  test('spool directory missing: exit 0, no output, nothing written', () => {
    rmSync(paths.spool, { recursive: true });
    for (const command of [execCommand(paths), hookCommand(paths.hook, 'project')]) {
      assertQuiet(run(command, '{"a":1}'));
      assertQuiet(run(command, Buffer.alloc(256 * 1024, 0x61)));
    }
    assert.equal(existsSync(paths.spool), false);
    assert.deepEqual(readdirSync(paths.home).sort(), [
      'audit',
      'bin',
      'keys',
      'logs',
      'quarantine',
      'run',
      'store',
    ]);
  });

  test('hook file missing: the registered command exits 0 silently', () => {
    rmSync(paths.hook);
    assertQuiet(run(hookCommand(paths.hook, 'global'), '{"a":1}'));
  });

  test('a 10 MB payload is stored completely', () => {
    const big = Buffer.from(`{"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`);
    assertQuiet(run(execCommand(paths), big));
    const { name, content } = onlyFile(paths);
    const body = spool.readRecord(paths, name).body;
    assert.equal(content.length, `CT1 ${PROJECT}\n`.length + big.length);
    assert.equal(
      createHash('sha256').update(body).digest('hex'),
      createHash('sha256').update(big).digest('hex'),
    );
  });

  test('binary garbage is stored byte for byte', () => {
    const garbage = Buffer.concat([randomBytes(64 * 1024), Buffer.from([0, 0, 10, 0xff, 0xfe])]);
    assertQuiet(run(execCommand(paths), garbage));
    const { name } = onlyFile(paths);
    assert.deepEqual(spool.readRecord(paths, name).body, garbage);
  });

  test('new/ missing: exit 0, the file waits in tmp/ and orphan recovery brings it back', () => {
    rmSync(paths.spoolNew, { recursive: true });
    assertQuiet(run(execCommand(paths), '{"kept":true}'));
    const left = readdirSync(paths.spoolTmp);
    assert.equal(left.length, 1);
    assert.deepEqual(spool.recoverOrphans(paths, 0, Date.now() + 1000), left);
    assert.equal(spool.readRecord(paths, left[0]!).body.toString(), '{"kept":true}');
  });

  test('tmp/ unusable (not a directory): exit 0, no output, nothing in new/', () => {
    rmSync(paths.spoolTmp, { recursive: true });
    writeFileSync(paths.spoolTmp, '');
    assertQuiet(run(execCommand(paths), Buffer.alloc(512 * 1024, 0x62)));
    assert.deepEqual(readdirSync(paths.spoolNew), []);
  });

  test('write fails mid-payload (file size limit): exit 0, no partial file anywhere, stdin drained', () => {
    // RLIMIT_FSIZE makes the kernel stop cat's writes past 64 KiB, the way a full disk would, without
    // needing a mount. The payload is larger than a pipe buffer, so an undrained stdin would fail the write.
    const payload = Buffer.alloc(1024 * 1024, 0x63);
    for (const command of [execCommand(paths), hookCommand(paths.hook, 'project')]) {
      assertQuiet(run(`ulimit -f 128; ${command}`, payload));
      assert.deepEqual(readdirSync(paths.spoolNew), []);
      assert.deepEqual(readdirSync(paths.spoolTmp), []);
    }
    // Within the limit it works as usual.
    assertQuiet(run(`ulimit -f 128; ${execCommand(paths)}`, '{"small":1}'));
    assert.equal(onlyFile(paths).content.toString(), `CT1 ${PROJECT}\n{"small":1}`);
  });

  test('disk full (64 KiB tmpfs): exit 0, no partial file, space given back', (t) => {
    // A tmpfs mounted over spool/ in a private mount namespace (unshare -m as root, -rm otherwise), so
    // nothing leaks onto the host. Where namespaces are not allowed the test is skipped; the file size
    // limit test above covers the same failure path.
    const payloadFile = join(root, 'big-payload');
    writeFileSync(payloadFile, Buffer.alloc(256 * 1024, 0x64));
    const smallFile = join(root, 'small-payload');
    writeFileSync(smallFile, '{"after":"full"}');
    const script = `
      set -e
      mount -t tmpfs -o size=64k tmpfs "$1"
      mkdir "$1/tmp" "$1/new"
      set +e
      sh -c "$2" <"$3" >"$1/../full.out" 2>&1; rc1=$?
      n1=$(ls -A "$1/new" | wc -l); t1=$(ls -A "$1/tmp" | wc -l)
      sh -c "$2" <"$4" >>"$1/../full.out" 2>&1; rc2=$?
      n2=$(ls -A "$1/new" | wc -l); t2=$(ls -A "$1/tmp" | wc -l)
      echo "$rc1 $n1 $t1 $rc2 $n2 $t2 $(wc -c <"$1/../full.out")"
    `;
    const args = [paths.spool, execCommand(paths), payloadFile, smallFile];
    const attempts = process.getuid?.() === 0 ? [['-m'], ['-rm']] : [['-rm']];
    let out: string | undefined;
    for (const flags of attempts) {
      const r = spawnSync('unshare', [...flags, 'sh', '-c', script, 'sh', ...args]);
      if (r.status === 0 && r.stdout.length > 0) {
        out = r.stdout.toString().trim();
        break;
      }
    }
    if (out === undefined) {
      t.skip('cannot mount a tmpfs in a private mount namespace here');
      return;
    }
    // rc1 n1 t1 rc2 n2 t2 bytes-of-output
    assert.equal(out.split(/\s+/).join(' '), '0 0 0 0 1 0 0');
    // The namespace is gone: the real spool/ was never touched.
    assert.deepEqual(readdirSync(paths.spoolNew), []);
  });

  test('8 concurrent writers x 250 calls: 2000 intact files, no collisions', {
    timeout: 300_000,
  }, async () => {
    const writers = 8;
    const calls = 250;
    const pad = 6000; // larger than PIPE_BUF, so interleaved writes would show
    const command = execCommand(paths);
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CLAUDE_PROJECT_DIR: PROJECT };
    const once = (input: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = 0;
        child.stdout.on('data', (b: Buffer) => {
          out += b.length;
        });
        child.stderr.on('data', (b: Buffer) => {
          out += b.length;
        });
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0 || out !== 0) reject(new Error(`exit ${code}, ${out} bytes of output`));
          else resolve();
        });
        child.stdin.end(input);
      });
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < calls; i++) {
          const id = `w${w}-c${i}`;
          await once(JSON.stringify({ id, pad: letters[(w * calls + i) % 26]!.repeat(pad) }));
        }
      }),
    );
    const names = readdirSync(paths.spoolNew);
    assert.equal(names.length, writers * calls);
    assert.deepEqual(readdirSync(paths.spoolTmp), []);
    const ids = new Set<string>();
    for (const name of names) {
      assert.match(name, NAME);
      const rec = spool.readRecord(paths, name);
      assert.equal(rec.projectDir, PROJECT);
      const doc = JSON.parse(rec.body.toString()) as { id: string; pad: string };
      const [w, i] = doc.id.slice(1).split('-c').map(Number) as [number, number];
      assert.equal(doc.pad, letters[(w * calls + i) % 26]!.repeat(pad), `${name}: payload intact`);
      ids.add(doc.id);
    }
    assert.equal(ids.size, writers * calls, 'every call stored exactly once');
    const sorted = spool.sortRecords(names.map((n) => spool.readRecord(paths, n)));
    // Within one writer, calls run one after another: the spool order must respect that.
    const seen = new Map<number, number>();
    for (const r of sorted) {
      const { id } = JSON.parse(r.body.toString()) as { id: string };
      const [w, i] = id.slice(1).split('-c').map(Number) as [number, number];
      assert.ok((seen.get(w) ?? -1) < i, `writer ${w}: call ${i} sorted after a later call`);
      seen.set(w, i);
    }
  });
});

describe('hook source', () => {
  test('needs nothing but cat and mv on PATH (rm only after a failed write), and forks no subshells', () => {
    const p = freshHome();
    const bin = join(root, 'minimal-path');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['cat', 'mv']) {
      const where = spawnSync('sh', ['-c', `command -v ${tool}`])
        .stdout.toString()
        .trim();
      symlinkSync(where, join(bin, tool));
    }
    const r = spawnSync('/bin/sh', ['-c', execCommand(p)], {
      input: '{"minimal":true}',
      env: { PATH: bin, CLAUDE_PROJECT_DIR: PROJECT },
    });
    assertQuiet({ status: r.status, stdout: r.stdout, stderr: r.stderr });
    assert.equal(onlyFile(p).content.toString(), `CT1 ${PROJECT}\n{"minimal":true}`);

    const code = readFileSync(hookSource(), 'utf8')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    assert.ok(!/\$\(|`/.test(code), 'no command substitution');
  });
});
