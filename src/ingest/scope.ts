/**
 * Project scope: which project an event belongs to, and whether the paths an action touches lie
 * outside it. A raw string-prefix test is wrong in both directions (`/proj-evil` starts with `/proj`;
 * `/proj/../etc` and symlinks escape; relative paths never match), so paths are resolved the way the
 * kernel would: `~` expanded, relative paths joined to the event's cwd, symlinks followed on the
 * longest prefix that exists, and only then compared on a directory boundary.
 */
import { realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { analyzeCommand } from '../detect/shell/analyze.ts';
import { bashParserIfReady } from '../detect/shell/grammar.ts';

/**
 * Memo of filesystem lookups (realpath of path prefixes, git top levels). Symlinks and repositories
 * change rarely, so one cache per ingest batch is both fast and fresh enough; `maxAgeMs` bounds how
 * long a long-lived cache trusts its entries.
 */
export class ScopeCache {
  readonly home: string;
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private bornAt = Date.now();
  private readonly reals = new Map<string, string | null>();
  private readonly gitRoots = new Map<string, string | null>();
  /** realOf answers for paths that do not exist (resolved through their longest existing prefix). */
  private readonly partials = new Map<string, string>();

  constructor(opts: { home?: string; maxAgeMs?: number; maxEntries?: number } = {}) {
    this.home = resolve(opts.home ?? safeHome());
    this.maxAgeMs = opts.maxAgeMs ?? Number.POSITIVE_INFINITY;
    this.maxEntries = opts.maxEntries ?? 50_000;
  }

  clear(): void {
    this.reals.clear();
    this.partials.clear();
    this.gitRoots.clear();
    this.bornAt = Date.now();
  }

  /** Drops everything when older than maxAgeMs or grown too big. Cheap; call once per event. */
  refresh(now = Date.now()): void {
    if (
      now - this.bornAt > this.maxAgeMs ||
      this.reals.size + this.partials.size + this.gitRoots.size > this.maxEntries
    )
      this.clear();
  }

  /** realpath(3) of an existing path, or null. */
  private tryReal(p: string): string | null {
    const hit = this.reals.get(p);
    if (hit !== undefined) return hit;
    let r: string | null;
    try {
      r = realpathSync.native(p);
    } catch {
      r = null;
    }
    this.reals.set(p, r);
    return r;
  }

  /**
   * Where an absolute path really points: realpath of its longest existing prefix, with the rest
   * appended lexically (a file that does not exist yet resolves through its existing parents).
   * `..` after a symlink is resolved by the kernel, as it would be when the path is used.
   */
  realOf(abs: string): string {
    const whole = this.tryReal(abs);
    if (whole !== null) return whole;
    // A path that does not exist (yet): its answer is kept too, as the walk up its parents costs more.
    let known = this.partials.get(abs);
    if (known === undefined) {
      known = this.throughParents(abs);
      this.partials.set(abs, known);
    }
    return known;
  }

  private throughParents(abs: string): string {
    const segs = abs.split('/').filter((s) => s !== '' && s !== '.');
    for (let k = segs.length - 1; k > 0; k--) {
      const real = this.tryReal(`/${segs.slice(0, k).join('/')}`);
      if (real !== null) return resolve(real, ...segs.slice(k));
    }
    return resolve('/', ...segs);
  }

  /** Nearest directory at or above `dir` holding a `.git` entry (dir or file), or null. */
  gitTopLevel(dir: string): string | null {
    const visited: string[] = [];
    let d = resolve(dir);
    let found: string | null = null;
    for (;;) {
      const hit = this.gitRoots.get(d);
      if (hit !== undefined) {
        found = hit;
        break;
      }
      visited.push(d);
      if (statSync(join(d, '.git'), { throwIfNoEntry: false }) !== undefined) {
        found = d;
        break;
      }
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
    for (const v of visited) this.gitRoots.set(v, found);
    return found;
  }
}

function safeHome(): string {
  try {
    return homedir();
  } catch {
    return '/';
  }
}

/** `~` -> home, `~/x` -> home/x, `~name/x` -> <home's parent>/name/x. Other paths unchanged. */
export function expandHome(p: string, home: string): string {
  if (p.charCodeAt(0) !== 126 /* ~ */) return p;
  if (p === '~') return home;
  if (p.startsWith('~/')) return home + p.slice(1);
  const slash = p.indexOf('/');
  const user = slash < 0 ? p.slice(1) : p.slice(1, slash);
  if (!/^[A-Za-z0-9._-]+$/.test(user)) return p;
  return join(dirname(home), user, slash < 0 ? '' : p.slice(slash + 1));
}

/** `//`, `/./`, `/../`, a trailing `/` or `/.`: anything path.resolve would change in an absolute path. */
const NOT_CANONICAL = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

/** path.resolve, skipping the work for absolute paths that are already canonical (the common case). */
function resolveFast(base: string, p: string): string {
  if (p.charCodeAt(0) === 47 && !NOT_CANONICAL.test(p)) return p;
  return resolve(base, p);
}

/** Absolute, lexically normalized form of a path as the user would read it (no symlinks followed). */
export function normalizePath(p: string, cwd: string, home: string): string {
  return resolveFast(cwd || '/', expandHome(p, home));
}

/** Device files that read or write nothing on disk: never "outside" the project. */
const HARMLESS = new Set([
  '/dev/null',
  '/dev/stdin',
  '/dev/stdout',
  '/dev/stderr',
  '/dev/tty',
  '/dev/zero',
  '/dev/random',
  '/dev/urandom',
]);
const FD_PATH = /^\/(?:dev\/fd|proc\/self\/fd)\/\d+$/;

export function isHarmlessDevice(normalized: string): boolean {
  return HARMLESS.has(normalized) || FD_PATH.test(normalized);
}

/**
 * Project root of an event: $CLAUDE_PROJECT_DIR as the hook saw it, else the git top level above cwd
 * (found by looking for a `.git` entry, no git process), else cwd. '' when neither is known.
 */
export function resolveProjectRoot(
  where: { projectDir?: string | null; cwd?: string | null },
  cache: ScopeCache = new ScopeCache(),
): string {
  const cwd = typeof where.cwd === 'string' && where.cwd !== '' ? resolveFast('/', where.cwd) : '';
  const pd = where.projectDir;
  if (typeof pd === 'string' && pd.trim() !== '')
    return resolve(cwd || '/', expandHome(pd.trim(), cache.home));
  if (cwd === '') return '';
  return cache.gitTopLevel(cwd) ?? cwd;
}

export interface ScopeResult {
  /** True when any path lies outside the project root. */
  outside: boolean;
  /** The outside paths, lexically normalized (as `normalized` shows them). */
  outsidePaths: string[];
  /** Every input path, absolute and lexically normalized, in input order (empty strings skipped). */
  normalized: string[];
}

/** True when `real` is `rootReal` or lies below it (directory boundary, not string prefix). */
export function isWithin(real: string, rootReal: string): boolean {
  if (real === rootReal || rootReal === '/') return true;
  return real.startsWith(rootReal) && real.charCodeAt(rootReal.length) === 47; /* / */
}

/**
 * Which of `paths` (absolute, relative to `cwd`, or `~`-prefixed) lie outside `root`. Symlinks are
 * followed on both sides. With an unknown root ('') nothing is reported outside.
 */
export function checkPaths(
  root: string,
  paths: readonly string[],
  cwd: string,
  cache: ScopeCache = new ScopeCache(),
): ScopeResult {
  const base = cwd !== '' ? resolveFast('/', cwd) : root !== '' ? root : '/';
  const normalized: string[] = [];
  const outsidePaths: string[] = [];
  const rootReal = root === '' ? '' : cache.realOf(resolveFast('/', root));
  for (const p of paths) {
    if (typeof p !== 'string' || p === '') continue;
    const expanded = expandHome(p, cache.home);
    const norm = resolveFast(base, expanded);
    normalized.push(norm);
    if (rootReal === '' || isHarmlessDevice(norm)) continue;
    // Keep `..` for the kernel: /proj/link/../x must go through the link's target.
    const raw = expanded.charCodeAt(0) === 47 ? expanded : `${base}/${expanded}`;
    if (!isWithin(cache.realOf(raw), rootReal) && !outsidePaths.includes(norm)) outsidePaths.push(norm);
  }
  return { outside: outsidePaths.length > 0, outsidePaths, normalized };
}

// ---------------------------------------------------------------------------------------------------
// Bash: paths named in a command line, from the parsed command (detect/shell)

const MAX_COMMAND_PATHS = 64;
/** Stand-ins for the command's cwd and the home directory while analysing (mapped back afterwards). */
const CWD_MARK = `/\u0001${'/d'.repeat(64)}`;
const HOME_MARK = '/\u0001home';
const REDACTED = /<redacted:([a-z0-9-]+)>/g;
const REDACTED_STANDIN = /\u2063([a-z0-9-]+)\u2063/g;

/**
 * Paths a shell command touches, as the parsed facts see them: operands the command reads, writes or
 * deletes, redirection targets, `--opt=/path` values, paths of nested commands (`bash -c`, `$(...)`,
 * `find -exec`), with quotes, escapes and known variables resolved. Paths relative to the command's
 * cwd stay relative (the caller resolves them); `~` stays `~`; after a `cd` they are absolute. Paths
 * only known at run time, URLs and here-document bodies are not paths.
 */
export function pathsInCommand(command: string): string[] {
  if (typeof command !== 'string' || command === '') return [];
  // The Pre and Post events of one call carry the same command: analyse it once.
  const hit = recentCommands.get(command);
  if (hit !== undefined) return [...hit];
  const paths = analysePaths(command);
  if (recentCommands.size >= RECENT_COMMANDS) recentCommands.clear();
  recentCommands.set(command, paths);
  return [...paths];
}

const RECENT_COMMANDS = 1024;
const recentCommands = new Map<string, string[]>();

function analysePaths(command: string): string[] {
  // Redaction markers look like redirections to a shell: hide them while parsing.
  const src = command.replace(REDACTED, '\u2063$1\u2063');
  const facts = analyzeCommand(
    src,
    {
      home: HOME_MARK,
      cwd: CWD_MARK,
      projectRoot: CWD_MARK,
      realOf: (p) => p,
      tempRoots: [],
      probes: [],
      budgetMs: 50,
    },
    bashParserIfReady(),
  );
  const out: string[] = [];
  for (const f of facts.paths) {
    if (out.length >= MAX_COMMAND_PATHS) break;
    if (f.dynamic || f.source === 'glob' || f.source === 'cwd') continue;
    const p = shownPath(f.raw, f.canonical).replace(REDACTED_STANDIN, '<redacted:$1>');
    if (p !== '' && !out.includes(p)) out.push(p);
  }
  return out;
}

/** The path as the command wrote it when relative to the original cwd, else its canonical form. */
function shownPath(raw: string, canonical: string): string {
  if (raw.startsWith(HOME_MARK)) return `~${raw.slice(HOME_MARK.length)}`;
  if (raw.charCodeAt(0) === 47) return raw;
  const asWritten = posix.normalize(`${CWD_MARK}/${raw}`);
  if (asWritten === canonical || asWritten === `${canonical}/`) return raw;
  // relative to a directory the command cd'd into
  if (canonical.startsWith(HOME_MARK)) return `~${canonical.slice(HOME_MARK.length)}`;
  if (canonical.startsWith(CWD_MARK)) return posix.relative(CWD_MARK, canonical) || '.';
  return canonical;
}

/** Static (glob-free) leading part of a glob pattern when it names a place: `/etc/**` -> `/etc`. */
export function globBase(pattern: string): string | null {
  if (typeof pattern !== 'string' || pattern === '') return null;
  const c = pattern.charCodeAt(0);
  if (c !== 47 && c !== 126 && !pattern.startsWith('../') && pattern !== '..') return null;
  const segs = pattern.split('/');
  const keep: string[] = [];
  for (const s of segs) {
    if (/[*?[{]/.test(s)) break;
    keep.push(s);
  }
  const base = keep.join('/');
  return base === '' ? (c === 47 ? '/' : null) : base;
}
