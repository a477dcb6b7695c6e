import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadBashParser } from '../../src/detect/shell/grammar.ts';
import {
  checkPaths,
  expandHome,
  globBase,
  isWithin,
  pathsInCommand,
  resolveProjectRoot,
  ScopeCache,
} from '../../src/ingest/scope.ts';

let base = '';
let proj = '';
let projLink = '';
let outside = '';
let home = '';

before(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'cat-scope-')));
  proj = join(base, 'proj');
  outside = join(base, 'outside');
  home = join(base, 'home', 'dev');
  mkdirSync(join(proj, 'src', 'deep'), { recursive: true });
  mkdirSync(join(proj, '.git'));
  mkdirSync(join(base, 'proj-evil'));
  mkdirSync(outside);
  mkdirSync(home, { recursive: true });
  writeFileSync(join(proj, 'README.md'), 'x');
  writeFileSync(join(proj, 'src', 'app.ts'), 'x');
  writeFileSync(join(outside, 'secret.txt'), 'x');
  symlinkSync(outside, join(proj, 'link-out'));
  symlinkSync(join(proj, 'src'), join(proj, 'link-in'));
  symlinkSync(join(outside, 'secret.txt'), join(proj, 'file-link-out'));
  projLink = join(base, 'proj-link');
  symlinkSync(proj, projLink);
  // a worktree-style checkout: .git is a file
  mkdirSync(join(base, 'wt', 'pkg'), { recursive: true });
  writeFileSync(join(base, 'wt', '.git'), 'gitdir: elsewhere\n');
});

after(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('checkPaths: tricky cases', () => {
  // [description, path, cwd ('' = project root), expected outside]
  const rows: [string, () => string, () => string, boolean][] = [
    ['relative path resolved against cwd', () => 'src/app.ts', () => proj, false],
    ['./relative', () => './src/app.ts', () => proj, false],
    ['../ escaping the project', () => '../outside/secret.txt', () => proj, true],
    ['absolute with .. escaping', () => `${proj}/../outside/secret.txt`, () => proj, true],
    ['absolute with .. staying inside', () => `${proj}/src/../README.md`, () => proj, false],
    ['.. twice escaping into a sibling', () => `${proj}/src/../../proj-evil/x`, () => proj, true],
    ['sibling prefix /proj-evil is not /proj', () => `${proj}-evil/x`, () => proj, true],
    ['the root itself', () => proj, () => proj, false],
    ['the root with a trailing slash', () => `${proj}/`, () => proj, false],
    ['the root with /.', () => `${proj}/.`, () => proj, false],
    ['double slashes', () => `${proj}//src//app.ts`, () => proj, false],
    ['symlink dir inside pointing outside', () => `${proj}/link-out/secret.txt`, () => proj, true],
    ['the symlink itself (points outside)', () => `${proj}/link-out`, () => proj, true],
    ['file symlink pointing outside', () => `${proj}/file-link-out`, () => proj, true],
    ['new file under an outside symlink', () => `${proj}/link-out/new/file.txt`, () => proj, true],
    ['symlink .. goes through the target', () => `${proj}/link-out/../x`, () => proj, true],
    ['symlink inside pointing inside', () => `${proj}/link-in/app.ts`, () => proj, false],
    ['new file inside (does not exist)', () => `${proj}/new-dir/new.ts`, () => proj, false],
    ['new file outside (does not exist)', () => `${outside}/new.txt`, () => proj, true],
    ['new top-level path outside', () => '/no-such-dir-xyz/file', () => proj, true],
    ['/etc/passwd', () => '/etc/passwd', () => proj, true],
    ['~ is the home directory', () => '~', () => proj, true],
    ['~/x under home', () => '~/.ssh/id_rsa', () => proj, true],
    ['/dev/null is harmless', () => '/dev/null', () => proj, false],
    ['/dev/stdout is harmless', () => '/dev/stdout', () => proj, false],
    ['/dev/stderr is harmless', () => '/dev/stderr', () => proj, false],
    ['/dev/tty is harmless', () => '/dev/tty', () => proj, false],
    ['/dev/sda is not harmless', () => '/dev/sda', () => proj, true],
    ['relative path while cwd is outside', () => 'notes.txt', () => outside, true],
    ['relative .. from a subdirectory stays inside', () => '../README.md', () => join(proj, 'src'), false],
    ['path through the symlinked root spelling', () => `${projLink}/src/app.ts`, () => proj, false],
  ];
  for (const [name, path, cwd, expected] of rows) {
    test(name, () => {
      const r = checkPaths(proj, [path()], cwd(), new ScopeCache({ home }));
      assert.equal(r.outside, expected, `${path()} (cwd ${cwd()})`);
      assert.equal(r.normalized.length, 1);
      assert.deepEqual(r.outsidePaths, expected ? r.normalized : []);
    });
  }

  test('root given through a symlink is realpathed too', () => {
    const c = new ScopeCache({ home });
    assert.equal(checkPaths(projLink, [join(proj, 'src', 'app.ts')], proj, c).outside, false);
    assert.equal(checkPaths(projLink, [join(outside, 'secret.txt')], proj, c).outside, true);
    assert.equal(checkPaths(projLink, ['src/app.ts'], projLink, c).outside, false);
  });

  test('~ inside the project when home is the project', () => {
    const r = checkPaths(proj, ['~/src/app.ts', '~'], proj, new ScopeCache({ home: proj }));
    assert.equal(r.outside, false);
    assert.deepEqual(r.normalized, [join(proj, 'src', 'app.ts'), proj]);
  });

  test('normalized paths are lexical; duplicates reported once; empty strings skipped', () => {
    const r = checkPaths(proj, ['', '/etc//x/', '/etc/x', 'src/./app.ts'], proj, new ScopeCache({ home }));
    assert.deepEqual(r.normalized, ['/etc/x', '/etc/x', join(proj, 'src', 'app.ts')]);
    assert.deepEqual(r.outsidePaths, ['/etc/x']);
  });

  test('unknown root reports nothing outside', () => {
    const r = checkPaths('', ['/etc/passwd'], '/', new ScopeCache({ home }));
    assert.equal(r.outside, false);
    assert.deepEqual(r.normalized, ['/etc/passwd']);
  });

  test('root / contains everything', () => {
    assert.equal(checkPaths('/', ['/etc/passwd'], '/', new ScopeCache({ home })).outside, false);
  });

  test('isWithin compares on a directory boundary', () => {
    assert.equal(isWithin('/proj', '/proj'), true);
    assert.equal(isWithin('/proj/a', '/proj'), true);
    assert.equal(isWithin('/proj-evil/a', '/proj'), false);
    assert.equal(isWithin('/projx', '/proj'), false);
    assert.equal(isWithin('/anything', '/'), true);
  });

  test('the cache answers repeated lookups without the filesystem', () => {
    const c = new ScopeCache({ home });
    const target = join(proj, 'late-link');
    assert.equal(checkPaths(proj, [target], proj, c).outside, false);
    symlinkSync(outside, target);
    try {
      assert.equal(checkPaths(proj, [target], proj, c).outside, false, 'cached answer');
      c.clear();
      assert.equal(checkPaths(proj, [target], proj, c).outside, true, 'fresh answer after clear()');
    } finally {
      rmSync(target);
    }
  });

  test('refresh() drops a stale cache', () => {
    const c = new ScopeCache({ home, maxAgeMs: 10 });
    c.realOf(proj);
    c.refresh(Date.now() + 1000);
    const target = join(proj, 'late-link-2');
    symlinkSync(outside, target);
    try {
      assert.equal(checkPaths(proj, [target], proj, c).outside, true);
    } finally {
      rmSync(target);
    }
  });
});

describe('expandHome', () => {
  test('forms of ~', () => {
    assert.equal(expandHome('~', '/home/a'), '/home/a');
    assert.equal(expandHome('~/x/y', '/home/a'), '/home/a/x/y');
    assert.equal(expandHome('~bob/x', '/home/a'), '/home/bob/x');
    assert.equal(expandHome('~bob', '/home/a'), '/home/bob');
    assert.equal(expandHome('/abs/~', '/home/a'), '/abs/~');
    assert.equal(expandHome('x~', '/home/a'), 'x~');
  });
});

describe('resolveProjectRoot', () => {
  test('CLAUDE_PROJECT_DIR wins', () => {
    assert.equal(resolveProjectRoot({ projectDir: '/p/q', cwd: join(proj, 'src') }), '/p/q');
    assert.equal(resolveProjectRoot({ projectDir: '/p/q/', cwd: null }), '/p/q');
  });
  test('else the git top level above cwd', () => {
    const c = new ScopeCache({ home });
    assert.equal(resolveProjectRoot({ projectDir: null, cwd: join(proj, 'src', 'deep') }, c), proj);
    assert.equal(resolveProjectRoot({ projectDir: '', cwd: proj }, c), proj);
    assert.equal(resolveProjectRoot({ projectDir: '  ', cwd: proj }, c), proj);
  });
  test('a .git file (worktree) counts', () => {
    assert.equal(resolveProjectRoot({ projectDir: null, cwd: join(base, 'wt', 'pkg') }), join(base, 'wt'));
  });
  test('else cwd', () => {
    assert.equal(resolveProjectRoot({ projectDir: null, cwd: outside }), outside);
  });
  test('nothing known', () => {
    assert.equal(resolveProjectRoot({ projectDir: null, cwd: null }), '');
  });
});

describe('pathsInCommand: paths from the parsed command', () => {
  before(async () => {
    await loadBashParser();
  });
  const rows: [string, string[]][] = [
    ['cat /etc/passwd', ['/etc/passwd']],
    ['echo hi', []],
    ['ls -la ./src', ['./src']],
    ['echo x >/etc/x', ['/etc/x']],
    ['echo x 2>>err.log', ['err.log']],
    ['make > build.log 2>&1', ['build.log']],
    ['ls &>/dev/null', []],
    ['sort < input.txt', ['input.txt']],
    ['curl https://example.com/a/b -o /tmp/out', ['/tmp/out']],
    ['tool --file=/x/y -v --count=3', ['/x/y']],
    ['cd /tmp && cat x', ['/tmp', '/tmp/x']],
    ['cat "/etc/my file" \'/opt/other file\'', ['/etc/my file', '/opt/other file']],
    ['cat ~/.ssh/id_rsa', ['~/.ssh/id_rsa']],
    ['ls ~', ['~']],
    ['git -C ../other status', ['../other']],
    ['cat <<EOF > /tmp/f\n/etc/not-a-path\nEOF\necho done >> log/x', ['/tmp/f', 'log/x']],
    ['PATH=/opt/bin:/usr/bin make', []],
    ['cat $HOME/.aws/credentials', ['~/.aws/credentials']],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    ['cat "${HOME}/.netrc"', ['~/.netrc']],
    ['cat $SOMEVAR/x', []],
    ['cp a.txt b.txt', ['a.txt', 'b.txt']],
    ['cd /etc && cat hosts ../passwd', ['/etc', '/etc/hosts', '/passwd']],
    ['cd src && cat a.ts', ['src', 'src/a.ts']],
    ["bash -c 'rm -rf /srv/x'", ['/srv/x']],
    ['f=/etc/shadow; cat $f', ['/etc/shadow']],
    ['cat ~/.ss""h/id_rsa', ['~/.ssh/id_rsa']],
    ['echo data | tee /var/log/x; rm -rf ../..', ['/var/log/x', '../..']],
    ['git push git@github.com:o/r.git main', []],
    ['grep -r foo src/ --include=*.ts', ['src/']],
    ['find . -name "*.ts"', ['.']],
    ['echo $(cat /etc/hostname) `cat /etc/os-release`', ['/etc/hostname', '/etc/os-release']],
    ['cat /etc/a\\ b', ['/etc/a b']],
    ['wc -c hello.txt # reads /etc/shadow', ['hello.txt']],
    ['grep x <<< /etc/not-a-file', []],
    ['cat /etc/x /etc/x', ['/etc/x']],
    [
      'cat /tmp/<redacted:github-token>/x <redacted:jwt>',
      ['/tmp/<redacted:github-token>/x', '<redacted:jwt>'],
    ],
  ];
  for (const [cmd, expected] of rows) {
    test(JSON.stringify(cmd), () => assert.deepEqual(pathsInCommand(cmd), expected));
  }

  test('cd /tmp && cat x is outside the project', () => {
    const r = checkPaths(proj, pathsInCommand('cd /tmp && cat x'), proj, new ScopeCache({ home }));
    assert.equal(r.outside, true);
    assert.deepEqual(r.outsidePaths, ['/tmp', '/tmp/x']);
  });

  test('redirect to /dev/null is not outside', () => {
    const r = checkPaths(
      proj,
      pathsInCommand('ls src 2>/dev/null >/dev/stdout'),
      proj,
      new ScopeCache({ home }),
    );
    assert.equal(r.outside, false);
  });

  test('bounded on huge input', () => {
    const cmd = Array.from({ length: 20_000 }, (_, i) => `/p/${i}`).join(' ');
    const out = pathsInCommand(cmd);
    assert.equal(out.length, 64);
  });

  test('never throws on odd input', () => {
    for (const s of ['', '"', "'", '\\', '>', '<<', '<<<', '2>&', '$(', '`', '>&-', 'a>|b', '<>x', '&>>'])
      assert.ok(Array.isArray(pathsInCommand(s)));
  });
});

describe('globBase', () => {
  test('static prefix of rooted globs', () => {
    assert.equal(globBase('/etc/**/*.conf'), '/etc');
    assert.equal(globBase('~/.ssh/*'), '~/.ssh');
    assert.equal(globBase('../x/*.ts'), '../x');
    assert.equal(globBase('/*'), '/');
    assert.equal(globBase('**/*.ts'), null);
    assert.equal(globBase('src/*.ts'), null);
  });
});
