/**
 * `connect --otel`: the telemetry entries go to the `env` block of the user settings file (Claude Code ignores
 * OTLP exporter settings in project and local files), once (idempotent); the user's own entries are kept (and
 * a conflicting exporter setup of theirs wins); `disconnect` removes ours and only ours; `--dry-run` shows the
 * change without writing; the command line checks its flags.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type ConnectOptions,
  connect,
  disconnect,
  OTEL_MARKER_KEY,
  otelEnv,
  settingsFile,
} from '../../src/capture/settings.ts';
import { dataPaths } from '../../src/config/paths.ts';
import { REPO } from '../helpers.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function fixture(): ConnectOptions & { file: string; project: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'ct-otel-settings-'));
  roots.push(root);
  const projectDir = join(root, 'project');
  const home = join(root, 'home');
  mkdirSync(projectDir);
  mkdirSync(home);
  const o: ConnectOptions = {
    projectDir,
    target: 'project',
    paths: dataPaths(join(root, 'data')),
    home,
    env: {},
  };
  return { ...o, file: settingsFile({ ...o, target: 'global' }), project: settingsFile(o), root };
}

const OTEL = { endpoint: 'http://127.0.0.1:3100' };
// biome-ignore lint/suspicious/noExplicitAny: settings documents are free-form JSON
const read = (file: string): any => JSON.parse(readFileSync(file, 'utf8'));
function write(file: string, doc: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}

describe('connect --otel', () => {
  test('sets the export environment next to the user entries; a second run changes nothing', () => {
    const f = fixture();
    write(f.file, { env: { MY_VAR: 'mine', CLAUDE_CODE_ENABLE_TELEMETRY: '1' }, model: 'opus' });
    const r = connect({ ...f, otel: OTEL });
    assert.ok(r.changed);
    const env = read(f.file).env;
    assert.equal(env.MY_VAR, 'mine');
    for (const [k, v] of Object.entries(otelEnv(OTEL))) assert.equal(env[k], v, k);
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://127.0.0.1:3100');
    assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
    // The user's CLAUDE_CODE_ENABLE_TELEMETRY=1 stays theirs: not in our list.
    assert.ok(!env[OTEL_MARKER_KEY].split(',').includes('CLAUDE_CODE_ENABLE_TELEMETRY'));
    assert.ok(env[OTEL_MARKER_KEY].split(',').includes('OTEL_LOGS_EXPORTER'));
    assert.equal(read(f.file).model, 'opus');
    assert.equal(r.otel?.file, f.file);
    assert.equal(read(f.project).env, undefined, 'nothing in the project file');
    assert.ok(read(f.project).hooks, 'the hooks in the project file');
    const again = connect({ ...f, otel: OTEL });
    assert.equal(again.changed, false);
    assert.equal(again.otel?.changed, false);
  });

  test('another endpoint or protocol updates our entries only', () => {
    const f = fixture();
    connect({ ...f, otel: OTEL });
    const r = connect({ ...f, otel: { endpoint: 'http://127.0.0.1:4100/', protocol: 'http/json' } });
    assert.ok(r.otel?.changed);
    assert.equal(r.changed, false, 'the hooks did not change');
    const env = read(f.file).env;
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://127.0.0.1:4100');
    assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/json');
  });

  test("the user's own exporter setup wins: nothing set, a warning says why; hooks are still connected", () => {
    const f = fixture();
    write(f.file, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318' } });
    const r = connect({ ...f, otel: OTEL });
    assert.deepEqual(read(f.file).env, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318' });
    assert.ok(read(f.project).hooks.PreToolUse);
    assert.ok(r.warnings.some((w) => /OTEL_EXPORTER_OTLP_ENDPOINT=https:\/\/otel\.example:4318/.test(w)));
  });

  test('disconnect removes our entries, keeps the user ones, and drops an env block left empty', () => {
    const f = fixture();
    write(f.file, { env: { MY_VAR: 'mine', CLAUDE_CODE_ENABLE_TELEMETRY: '1' } });
    connect({ ...f, otel: OTEL });
    assert.ok(disconnect(f).otel?.changed);
    assert.deepEqual(read(f.file), { env: { MY_VAR: 'mine', CLAUDE_CODE_ENABLE_TELEMETRY: '1' } });
    const g = fixture();
    connect({ ...g, otel: OTEL });
    disconnect(g);
    assert.deepEqual(read(g.file), {});
    // --global: hooks and env in the same file, removed together.
    const h = fixture();
    connect({ ...h, target: 'global', otel: OTEL });
    assert.ok(read(h.file).hooks && read(h.file).env);
    disconnect({ ...h, target: 'global' });
    assert.equal(existsSync(h.file) ? read(h.file).env : undefined, undefined);
  });

  test('connect without --otel leaves the export as it is (it serves every session of the user)', () => {
    const f = fixture();
    connect({ ...f, otel: OTEL });
    assert.equal(connect(f).otel, undefined);
    assert.equal(read(f.file).env.OTEL_LOGS_EXPORTER, 'otlp');
  });

  test('dry run: the diff shows the env entries, the file is not written', () => {
    const f = fixture();
    const r = connect({ ...f, otel: OTEL, dryRun: true });
    assert.ok(r.otel?.changed);
    assert.match(r.otel.diff, /\+\s+"OTEL_EXPORTER_OTLP_ENDPOINT": "http:\/\/127\.0\.0\.1:3100"/);
    assert.match(r.otel.diff, /\+\s+"CLAUDE_CODE_ENABLE_TELEMETRY": "1"/);
    assert.equal(existsSync(f.file), false);
    assert.equal(existsSync(f.project), false);
  });
});

describe('claude-telemetry connect --otel (command line)', () => {
  const cli = (args: string[], root: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'main.ts'), ...args], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, HOME: join(root, 'home'), CLAUDE_TELEMETRY_HOME: join(root, 'data') },
    });

  test('--dry-run prints the env change; the endpoint comes from config.yaml; flag errors are usage errors', () => {
    const f = fixture();
    const dry = cli(['connect', f.projectDir!, '--otel', '--dry-run'], f.root);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /"OTEL_EXPORTER_OTLP_ENDPOINT": "http:\/\/127\.0\.0\.1:3100"/);
    assert.match(dry.stdout, /dry run/);
    assert.equal(existsSync(f.file), false);
    const json = cli(
      ['connect', f.projectDir!, '--otel', '--otel-url', 'http://127.0.0.1:4999', '--json'],
      f.root,
    );
    assert.equal(json.status, 0, json.stderr);
    assert.equal(read(f.file).env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://127.0.0.1:4999');
    const bad = cli(['connect', f.projectDir!, '--otel-url', 'http://127.0.0.1:1'], f.root);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /go with --otel/);
    const proto = cli(['connect', f.projectDir!, '--otel', '--otel-protocol', 'grpc'], f.root);
    assert.equal(proto.status, 2);
    const off = cli(['disconnect', f.projectDir!], f.root);
    assert.equal(off.status, 0, off.stderr);
    assert.equal(read(f.file).env, undefined);
  });
});
