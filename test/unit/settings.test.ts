import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
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
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { installHook } from '../../src/capture/install.ts';
import {
  clearOptOutCache,
  connect,
  connectedFiles,
  disconnect,
  HOOK_EVENTS,
  hookCommand,
  isOptedOut,
  isOurHandler,
  jsonErrorOffset,
  listOptOuts,
  listProjects,
  optIn,
  optOut,
  readRegistry,
  SettingsError,
  settingsFile,
  shQuote,
  unifiedDiff,
} from '../../src/capture/settings.ts';
import { type DataPaths, dataPaths } from '../../src/config/paths.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ct-settings-'));
  roots.push(d);
  return d;
}

interface Fixture {
  root: string;
  project: string;
  paths: DataPaths;
  home: string;
  env: NodeJS.ProcessEnv;
}

function fixture(dataDirName = 'data'): Fixture {
  const root = tmp();
  const project = join(root, 'project');
  mkdirSync(project);
  const home = join(root, 'home');
  mkdirSync(home);
  return { root, project, paths: dataPaths(join(root, dataDirName)), home, env: {} };
}

function writeJson(file: string, value: unknown, indent = 2): string {
  mkdirSync(dirname(file), { recursive: true });
  const text = `${JSON.stringify(value, null, indent)}\n`;
  writeFileSync(file, text);
  return text;
}

// biome-ignore lint/suspicious/noExplicitAny: settings documents are free-form JSON
type Doc = any;
const read = (file: string): Doc => JSON.parse(readFileSync(file, 'utf8'));
const backups = (file: string) =>
  readdirSync(dirname(file)).filter((n) => n.startsWith(`${file.split('/').pop()}.bak-`));

const OTHER_TOOL = { type: 'command', command: 'node "$HOME/.other-tool/hook.js"', timeout: 30 };

describe('connect', () => {
  test('creates the project settings file with our handler on every event', () => {
    const f = fixture();
    const r = connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.file, join(f.project, '.claude', 'settings.json'));
    assert.equal(r.changed, true);
    assert.equal(r.backup, undefined);
    assert.match(r.diff, /^--- \/dev\/null\n\+\+\+ /);
    const text = readFileSync(r.file, 'utf8');
    assert.ok(text.endsWith('}\n'));
    assert.match(text, /^\{\n {2}"hooks": \{\n {4}"PreToolUse": \[/);
    const doc = read(r.file);
    assert.deepEqual(Object.keys(doc), ['hooks']);
    assert.deepEqual(Object.keys(doc.hooks), [...HOOK_EVENTS]);
    assert.equal(HOOK_EVENTS.length, 33);
    for (const event of HOOK_EVENTS) {
      const groups = doc.hooks[event];
      assert.equal(groups.length, 1, event);
      assert.deepEqual(Object.keys(groups[0]), ['hooks'], `${event}: no matcher`);
      assert.deepEqual(groups[0].hooks, [
        {
          type: 'command',
          command: hookCommand(f.paths.hook, 'project'),
          timeout: event === 'SessionEnd' ? 1 : 10,
        },
      ]);
      assert.ok(isOurHandler(groups[0].hooks[0]));
    }
    assert.deepEqual(
      listProjects(f.paths).map((p) => [p.path, p.target, p.file]),
      [[f.project, 'project', r.file]],
    );
  });

  test('keeps every other key, hook, matcher and the key order', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const original = {
      $schema: 'https://json.schemastore.org/claude-code-settings.json',
      permissions: { allow: ['Bash(npm test)'], deny: ['Read(./.env)'] },
      hooks: {
        PreToolUse: [
          { matcher: 'Bash', hooks: [OTHER_TOOL] },
          { hooks: [{ type: 'command', command: 'echo pre' }] },
        ],
        Stop: [{ hooks: [OTHER_TOOL, { type: 'http', url: 'http://127.0.0.1:9/x' }] }],
        SomeFutureEvent: [{ hooks: [OTHER_TOOL] }],
      },
      env: { FOO: 'bar' },
      model: 'opus',
    };
    writeJson(file, original);
    const r = connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.changed, true);
    const doc = read(file);
    assert.deepEqual(Object.keys(doc), ['$schema', 'permissions', 'hooks', 'env', 'model']);
    assert.deepEqual(doc.permissions, original.permissions);
    assert.deepEqual(doc.env, original.env);
    assert.deepEqual(Object.keys(doc.hooks).slice(0, 3), ['PreToolUse', 'Stop', 'SomeFutureEvent']);
    assert.deepEqual(doc.hooks.SomeFutureEvent, original.hooks.SomeFutureEvent);
    assert.deepEqual(doc.hooks.PreToolUse.slice(0, 2), original.hooks.PreToolUse);
    assert.equal(doc.hooks.PreToolUse.length, 3);
    assert.deepEqual(doc.hooks.Stop[0], original.hooks.Stop[0]);
    assert.equal(doc.hooks.Stop.length, 2);
    assert.ok(isOurHandler(doc.hooks.Stop[1].hooks[0]));
  });

  test('a second connect changes nothing, byte for byte, and makes no backup', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    writeJson(file, { model: 'opus', hooks: { Stop: [{ hooks: [OTHER_TOOL] }] } });
    const first = connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
    });
    assert.equal(first.changed, true);
    const bytes = readFileSync(file);
    const mtime = statSync(file).mtimeMs;
    const registry = readFileSync(f.paths.projectsFile);
    const second = connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
    });
    assert.deepEqual(second, { file, changed: false, diff: '', warnings: [] });
    assert.deepEqual(readFileSync(file), bytes);
    assert.equal(statSync(file).mtimeMs, mtime);
    assert.deepEqual(readFileSync(f.paths.projectsFile), registry);
    assert.equal(backups(file).length, 1);
  });

  test('leaves a semantically connected file alone even when its formatting differs', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      dryRun: false,
    });
    const fourSpaces = writeJson(file, read(file), 4);
    assert.equal(
      connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} }).changed,
      false,
    );
    assert.equal(readFileSync(file, 'utf8'), fourSpaces);
  });

  test('backs up the previous content before changing a file', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const before = writeJson(file, { model: 'opus' });
    const at = new Date('2026-11-21T10:00:00.123Z');
    const r = connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      now: () => at,
    });
    assert.equal(r.backup, `${file}.bak-2026-11-21T10:00:00.123Z`);
    assert.equal(readFileSync(r.backup!, 'utf8'), before);
    // A second change within the same millisecond does not overwrite the first backup.
    const d = disconnect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      now: () => at,
    });
    assert.equal(d.backup, `${file}.bak-2026-11-21T10:00:00.123Z-1`);
    assert.equal(readFileSync(r.backup!, 'utf8'), before);
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  test('replaces a stale handler of ours (other data dir, other scope) instead of adding a second', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const stale = { type: 'command', command: "exec '/old/place/bin/capture-hook.sh' global", timeout: 5 };
    writeJson(file, {
      hooks: {
        PreToolUse: [{ hooks: [OTHER_TOOL, stale] }, { matcher: 'Bash', hooks: [stale] }, { hooks: [stale] }],
      },
    });
    connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    const groups = read(file).hooks.PreToolUse;
    assert.deepEqual(groups, [
      {
        hooks: [OTHER_TOOL, { type: 'command', command: hookCommand(f.paths.hook, 'project'), timeout: 10 }],
      },
    ]);
  });

  test('keeps the mode of an existing file and writes through a symlink', () => {
    const f = fixture();
    const real = join(f.root, 'dotfiles', 'settings.local.json');
    writeJson(real, { env: { A: '1' } });
    chmodSync(real, 0o600);
    const link = join(f.project, '.claude', 'settings.local.json');
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(real, link);
    const r = connect({ projectDir: f.project, target: 'local', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.file, link);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(statSync(real).mode & 0o777, 0o600);
    assert.equal(read(real).env.A, '1');
    assert.ok(read(real).hooks.Stop);
  });

  test('refuses invalid JSON, naming the file and the position, and changes nothing', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    mkdirSync(dirname(file), { recursive: true });
    const bad = '{\n  "model": "opus",\n  "hooks": {,\n}\n';
    writeFileSync(file, bad);
    assert.throws(
      () => connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} }),
      (e: unknown) => {
        assert.ok(e instanceof SettingsError);
        assert.equal(e.file, file);
        assert.equal(e.line, 3);
        assert.equal(e.column, 13);
        assert.ok(e.message.includes(file));
        assert.match(e.message, /line 3, column 13/);
        return true;
      },
    );
    assert.equal(readFileSync(file, 'utf8'), bad);
    assert.equal(backups(file).length, 0);
    assert.equal(existsSync(f.paths.projectsFile), false);
    assert.throws(
      () => disconnect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} }),
      SettingsError,
    );
    assert.equal(readFileSync(file, 'utf8'), bad);
  });

  test('refuses a non-object top level, a non-object hooks and a non-array event list', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const cases: [unknown, RegExp][] = [
      [[1, 2], /top level is an array/],
      ['text', /top level is a string/],
      [null, /top level is null/],
      [{ hooks: [] }, /"hooks" is not an object/],
      [{ hooks: { Stop: { hooks: [] } } }, /"hooks\.Stop" is not an array/],
    ];
    for (const [value, message] of cases) {
      const text = writeJson(file, value);
      assert.throws(
        () => connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} }),
        (e: unknown) => {
          assert.ok(e instanceof SettingsError);
          assert.match(e.message, message);
          assert.ok(e.message.startsWith(file));
          return true;
        },
      );
      assert.equal(readFileSync(file, 'utf8'), text);
    }
    assert.equal(backups(file).length, 0);
  });

  test('treats an empty file as an empty object', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '\n');
    const r = connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.changed, true);
    assert.ok(r.backup);
    assert.deepEqual(Object.keys(read(file)), ['hooks']);
  });

  test('dry run returns the diff and writes nothing', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const none = connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      dryRun: true,
    });
    assert.equal(none.changed, true);
    assert.equal(existsSync(join(f.project, '.claude')), false);
    assert.equal(existsSync(f.paths.projectsFile), false);

    const text = writeJson(file, { model: 'opus' });
    const r = connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      dryRun: true,
    });
    assert.equal(r.changed, true);
    assert.equal(r.backup, undefined);
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.deepEqual(readdirSync(dirname(file)), ['settings.json']);
    assert.equal(existsSync(f.paths.projectsFile), false);
    const lines = r.diff.split('\n');
    assert.equal(lines[0], `--- ${file}`);
    assert.equal(lines[1], `+++ ${file}`);
    assert.match(lines[2]!, /^@@ -1,3 \+1,\d+ @@$/);
    assert.ok(lines.includes('-  "model": "opus"'));
    assert.ok(lines.includes('+  "model": "opus",'));
    assert.ok(lines.includes('+  "hooks": {'));
    assert.ok(
      lines.includes(`+            "command": ${JSON.stringify(hookCommand(f.paths.hook, 'project'))},`),
    );

    connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    const after = readFileSync(file, 'utf8');
    const d = disconnect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      dryRun: true,
    });
    assert.equal(d.changed, true);
    assert.ok(d.diff.includes('-  "hooks": {'));
    assert.equal(readFileSync(file, 'utf8'), after);
  });

  test('local target writes settings.local.json', () => {
    const f = fixture();
    const r = connect({ projectDir: f.project, target: 'local', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.file, join(f.project, '.claude', 'settings.local.json'));
    assert.equal(read(r.file).hooks.Stop[0].hooks[0].command, hookCommand(f.paths.hook, 'local'));
    assert.equal(existsSync(join(f.project, '.claude', 'settings.json')), false);
  });

  test('global target writes ~/.claude/settings.json, or $CLAUDE_CONFIG_DIR/settings.json', () => {
    const f = fixture();
    const r = connect({ target: 'global', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.file, join(f.home, '.claude', 'settings.json'));
    assert.equal(read(r.file).hooks.Stop[0].hooks[0].command, hookCommand(f.paths.hook, 'global'));

    const configDir = join(f.root, 'claude config');
    const env = { CLAUDE_CONFIG_DIR: configDir };
    const g = connect({ target: 'global', paths: f.paths, home: f.home, env });
    assert.equal(g.file, join(configDir, 'settings.json'));
    assert.ok(existsSync(g.file));
    assert.equal(settingsFile({ target: 'global', env }), g.file);
    assert.deepEqual(
      listProjects(f.paths)
        .map((p) => [p.target, p.path])
        .sort(),
      [
        ['global', configDir],
        ['global', join(f.home, '.claude')],
      ],
    );
  });

  test('warns when the hooks are connected in another scope as well', () => {
    const f = fixture();
    connect({ target: 'global', paths: f.paths, home: f.home, env: {} });
    const r = connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /also connected in .*\.claude\/settings\.json \(global\)/);
    assert.deepEqual(
      connectedFiles({ projectDir: f.project, home: f.home, env: {} }).map((c) => c.target),
      ['project', 'global'],
    );
  });

  test('the registered command runs the hook through sh -c, with spaces and a quote in the path', () => {
    const f = fixture("data dir/it's here");
    installHook(f.paths);
    const r = connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    const command: string = read(r.file).hooks.PreToolUse[0].hooks[0].command;
    assert.ok(command.includes(shQuote(f.paths.hook)));
    const payload = '{"hook_event_name":"PreToolUse","session_id":"s1"}';
    const run = spawnSync('sh', ['-c', command], { input: payload, env: { CLAUDE_PROJECT_DIR: f.project } });
    assert.equal(run.status, 0);
    assert.equal(run.stdout.length, 0);
    assert.equal(run.stderr.length, 0);
    const files = readdirSync(f.paths.spoolNew);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^\d+\.[0-9a-f-]{36}\.project$/);
    assert.equal(readFileSync(join(f.paths.spoolNew, files[0]!), 'utf8'), `CT1 ${f.project}\n${payload}`);

    // With the data dir gone the command still succeeds silently.
    rmSync(f.paths.home, { recursive: true });
    const gone = spawnSync('sh', ['-c', command], { input: payload });
    assert.equal(gone.status, 0);
    assert.equal(gone.stdout.length + gone.stderr.length, 0);
  });
});

describe('disconnect', () => {
  test('removes only our handlers, and the groups, events and hooks key they leave empty', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const original = {
      model: 'opus',
      hooks: {
        PreToolUse: [{ matcher: 'Bash', hooks: [OTHER_TOOL] }],
        Stop: [{ hooks: [OTHER_TOOL] }],
        Notification: [],
        SomeFutureEvent: [{ hooks: [] }],
      },
      env: { A: '1' },
    };
    writeJson(file, original);
    connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    // Someone put another handler next to ours in our group: it must survive.
    const doc = read(file);
    doc.hooks.SessionStart[0].hooks.push({ type: 'command', command: 'echo hello' });
    writeJson(file, doc);

    const r = disconnect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.changed, true);
    assert.ok(r.backup);
    const out = read(file);
    assert.deepEqual(Object.keys(out), ['model', 'hooks', 'env']);
    // Notification held only our group after connect, so its (now empty) list goes; the empty group that
    // someone else left in SomeFutureEvent is not ours to clean up.
    const { Notification: _gone, ...kept } = original.hooks;
    assert.deepEqual(out.hooks, {
      ...kept,
      SessionStart: [{ hooks: [{ type: 'command', command: 'echo hello' }] }],
    });
    assert.deepEqual(listProjects(f.paths), []);
    assert.equal(
      disconnect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} }).changed,
      false,
    );
  });

  test('connect then disconnect restores the original document', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const original = { permissions: { allow: ['Read'] }, hooks: { Stop: [{ hooks: [OTHER_TOOL] }] }, z: 1 };
    const text = writeJson(file, original);
    connect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    disconnect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(readFileSync(file, 'utf8'), text);

    const f2 = fixture();
    const file2 = join(f2.project, '.claude', 'settings.json');
    writeJson(file2, { model: 'opus' });
    connect({ projectDir: f2.project, target: 'project', paths: f2.paths, home: f2.home, env: {} });
    disconnect({ projectDir: f2.project, target: 'project', paths: f2.paths, home: f2.home, env: {} });
    assert.deepEqual(read(file2), { model: 'opus' });
  });

  test('keeps an empty hooks object that was there before, and a missing file stays missing', () => {
    const f = fixture();
    const file = join(f.project, '.claude', 'settings.json');
    const text = writeJson(file, { hooks: {} });
    const r = disconnect({ projectDir: f.project, target: 'project', paths: f.paths, home: f.home, env: {} });
    assert.equal(r.changed, false);
    assert.equal(readFileSync(file, 'utf8'), text);
    const g = disconnect({ target: 'global', paths: f.paths, home: f.home, env: {} });
    assert.equal(g.changed, false);
    assert.equal(existsSync(g.file), false);
  });
});

describe('opt-out', () => {
  test('opted-out projects and everything below them are recognised; opt-in undoes it', () => {
    const f = fixture();
    const sibling = `${f.project}-two`;
    mkdirSync(sibling);
    assert.equal(isOptedOut(f.paths, f.project), false);
    assert.equal(optOut(f.paths, f.project, new Date('2026-11-21T00:00:00Z')), true);
    assert.equal(optOut(f.paths, f.project), false);
    assert.equal(isOptedOut(f.paths, f.project), true);
    assert.equal(isOptedOut(f.paths, join(f.project, 'src', 'deep')), true);
    assert.equal(isOptedOut(f.paths, `${f.project}/`), true);
    assert.equal(isOptedOut(f.paths, sibling), false);
    assert.equal(isOptedOut(f.paths, null), false);
    assert.equal(isOptedOut(f.paths, ''), false);
    assert.deepEqual(listOptOuts(f.paths), [{ path: f.project, at: '2026-11-21T00:00:00.000Z' }]);
    assert.equal(existsSync(join(f.project, '.claude')), false, 'nothing written into the project');
    assert.equal(optIn(f.paths, f.project), true);
    assert.equal(optIn(f.paths, f.project), false);
    assert.equal(isOptedOut(f.paths, f.project), false);
  });

  test('a symlinked project is recognised under both names', () => {
    const f = fixture();
    const link = join(f.root, 'link-to-project');
    symlinkSync(f.project, link);
    optOut(f.paths, link);
    assert.deepEqual(readRegistry(f.paths).optOut[0]?.realPath, f.project);
    assert.equal(isOptedOut(f.paths, link), true);
    assert.equal(isOptedOut(f.paths, join(f.project, 'x')), true);
    assert.equal(optIn(f.paths, f.project), true);
    assert.equal(isOptedOut(f.paths, link), false);
  });

  test('sees changes made by another process to the registry', () => {
    const f = fixture();
    assert.equal(isOptedOut(f.paths, f.project), false);
    writeJson(f.paths.projectsFile, { version: 1, projects: [], optOut: [{ path: f.project, at: 'x' }] });
    clearOptOutCache();
    assert.equal(isOptedOut(f.paths, f.project), true);
    // A registry that became unreadable keeps the last good list.
    writeFileSync(f.paths.projectsFile, '{ broken');
    clearOptOutCache();
    assert.equal(isOptedOut(f.paths, f.project), false);
    assert.throws(() => optOut(f.paths, f.project), SettingsError);
    assert.equal(readFileSync(f.paths.projectsFile, 'utf8'), '{ broken');
  });

  test('the registry records connections and opt-outs side by side', () => {
    const f = fixture();
    connect({
      projectDir: f.project,
      target: 'project',
      paths: f.paths,
      home: f.home,
      env: {},
      now: () => new Date(0),
    });
    optOut(f.paths, f.project, new Date(0));
    const reg = read(f.paths.projectsFile);
    assert.deepEqual(reg, {
      version: 1,
      projects: [
        {
          path: f.project,
          target: 'project',
          file: join(f.project, '.claude', 'settings.json'),
          connectedAt: '1970-01-01T00:00:00.000Z',
        },
      ],
      optOut: [{ path: f.project, at: '1970-01-01T00:00:00.000Z' }],
    });
    assert.equal(statSync(f.paths.projectsFile).mode & 0o777, 0o600);
  });
});

describe('helpers', () => {
  test('shQuote survives sh -c for awkward strings', () => {
    for (const s of ["it's", "''", 'a b\tc', '$HOME `id` "q" \\n', 'line\nbreak', '']) {
      const r = spawnSync('sh', ['-c', `printf %s ${shQuote(s)}`]);
      assert.equal(r.stdout.toString(), s);
    }
  });

  test('jsonErrorOffset: full length for valid JSON, the V8 position where V8 reports one', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2), (v, indent) => {
        const text = JSON.stringify(v, null, indent) ?? 'null';
        assert.equal(jsonErrorOffset(text), text.length);
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', ':', ',', '1', 'a', ' ', 'n', '\\') }),
        (s) => {
          let position: number | undefined;
          try {
            JSON.parse(s);
            return;
          } catch (e) {
            const m = /at position (\d+)/.exec((e as Error).message);
            if (m) position = Number(m[1]);
          }
          const offset = jsonErrorOffset(s);
          assert.ok(offset <= s.length);
          if (position !== undefined) assert.equal(offset, position, JSON.stringify(s));
        },
      ),
    );
  });

  test('unifiedDiff renders hunks with context', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'].join('\n');
    const b = a.replace('b', 'B').replace('k', 'K');
    assert.equal(
      unifiedDiff(`${a}\n`, `${b}\n`, 'x', 'y'),
      [
        '--- x',
        '+++ y',
        '@@ -1,5 +1,5 @@',
        ' a',
        '-b',
        '+B',
        ' c',
        ' d',
        ' e',
        '@@ -8,5 +8,5 @@',
        ' h',
        ' i',
        ' j',
        '-k',
        '+K',
        ' l',
        '',
      ].join('\n'),
    );
    assert.equal(unifiedDiff('same\n', 'same\n', 'x', 'y'), '');
    assert.equal(unifiedDiff('', 'new\n', '/dev/null', 'y'), '--- /dev/null\n+++ y\n@@ -0,0 +1,1 @@\n+new\n');
  });
});
