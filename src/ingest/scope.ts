/**
 * Project scope: which project an event belongs to, and whether the paths an action touches lie
 * outside it. A raw string-prefix test is wrong in both directions (`/proj-evil` starts with `/proj`;
 * `/proj/../etc` and symlinks escape; relative paths never match), so paths are resolved the way the
 * kernel would: `~` expanded, relative paths joined to the event's cwd, symlinks followed on the
 * longest prefix that exists, and only then compared on a directory boundary.
 */
import { realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

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

  constructor(opts: { home?: string; maxAgeMs?: number; maxEntries?: number } = {}) {
    this.home = resolve(opts.home ?? safeHome());
    this.maxAgeMs = opts.maxAgeMs ?? Number.POSITIVE_INFINITY;
    this.maxEntries = opts.maxEntries ?? 50_000;
  }

  clear(): void {
    this.reals.clear();
    this.gitRoots.clear();
    this.bornAt = Date.now();
  }

  /** Drops everything when older than maxAgeMs or grown too big. Cheap; call once per event. */
  refresh(now = Date.now()): void {
    if (now - this.bornAt > this.maxAgeMs || this.reals.size + this.gitRoots.size > this.maxEntries)
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
// Bash: paths named in a command line (a word scan, not a shell parser)

const MAX_COMMAND_SCAN = 64 * 1024;
const MAX_COMMAND_PATHS = 64;

interface Word {
  text: string;
  /** Target of a redirection (`>x`, `2>>x`, `<x`): a path even without a slash. */
  redirect: boolean;
  /** Contains an unexpandable `$` outside single quotes. */
  dynamic: boolean;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r';
const OPERATORS = new Set([';', '|', '(', ')', '`', '\n']);

/** Splits a command line into words: quotes stripped, operators and redirections recognized. */
function shellWords(src: string): Word[] {
  const words: Word[] = [];
  let cur = '';
  let inWord = false;
  let dynamic = false;
  let redirectNext = false;
  let skipNext: 'none' | 'word' | 'heredoc' = 'none';
  let heredocs: { delim: string; strip: boolean }[] = [];
  let pendingHeredoc = false;
  let heredocStrip = false;
  const n = src.length;

  const flush = () => {
    if (!inWord) return;
    if (pendingHeredoc) {
      heredocs.push({ delim: cur, strip: heredocStrip });
      pendingHeredoc = false;
    } else if (skipNext === 'word') {
      skipNext = 'none';
    } else {
      words.push({ text: cur, redirect: redirectNext, dynamic });
    }
    redirectNext = false;
    cur = '';
    inWord = false;
    dynamic = false;
  };

  let i = 0;
  while (i < n) {
    const c = src[i] as string;
    if (c === '\n') {
      flush();
      i++;
      if (heredocs.length > 0) {
        // Skip here-document bodies: their lines are data, not words.
        for (const h of heredocs) {
          for (;;) {
            if (i >= n) break;
            let end = src.indexOf('\n', i);
            if (end < 0) end = n;
            const line = src.slice(i, end);
            i = end + 1;
            if ((h.strip ? line.replace(/^\t+/, '') : line) === h.delim) break;
          }
        }
        heredocs = [];
      }
      continue;
    }
    if (isSpace(c)) {
      flush();
      i++;
      continue;
    }
    if (c === '#' && !inWord) {
      const end = src.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '\\') {
      if (i + 1 < n) {
        const next = src[i + 1] as string;
        if (next !== '\n') {
          cur += next;
          inWord = true;
        }
      }
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      const stop = end < 0 ? n : end;
      cur += src.slice(i + 1, stop);
      inWord = true;
      i = stop + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < n && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < n) {
          cur += src[j + 1];
          j += 2;
          continue;
        }
        if (src[j] === '$') dynamic = true;
        cur += src[j];
        j++;
      }
      inWord = true;
      i = j + 1;
      continue;
    }
    if (c === '$' && src[i + 1] === '(') {
      flush();
      i += 2;
      continue;
    }
    if (c === '<' && src.startsWith('<redacted:', i)) {
      // a redaction marker is part of a word, not a redirection
      const end = src.indexOf('>', i);
      const stop = end < 0 ? n : end + 1;
      cur += src.slice(i, stop);
      inWord = true;
      i = stop;
      continue;
    }
    if (c === '>' || c === '<' || (c === '&' && src[i + 1] === '>')) {
      // A word made only of digits right before the operator is a file descriptor (2>file).
      if (inWord && /^\d+$/.test(cur)) {
        cur = '';
        inWord = false;
        dynamic = false;
      } else {
        flush();
      }
      let j = i;
      if (src[j] === '&') j++;
      const op = src[j] as string;
      j++;
      if (op === '<' && src[j] === '<') {
        j++;
        if (src[j] === '<') {
          // here-string: the next word is data
          skipNext = 'word';
          i = j + 1;
          continue;
        }
        heredocStrip = src[j] === '-';
        if (heredocStrip) j++;
        pendingHeredoc = true;
        i = j;
        continue;
      }
      if (src[j] === op || src[j] === '|') j++;
      else if (op === '<' && src[j] === '>') j++;
      if (src[j] === '&') {
        // >&2, <&0, >&- duplicate descriptors; >&file is a file
        j++;
        let k = j;
        while (k < n && /[0-9-]/.test(src[k] as string)) k++;
        if (k > j && (k >= n || !/[^\s;|&()<>]/.test(src[k] as string))) {
          i = k;
          continue;
        }
      }
      redirectNext = true;
      i = j;
      continue;
    }
    if (c === '&' || OPERATORS.has(c)) {
      flush();
      i++;
      continue;
    }
    if (c === '$') dynamic = true;
    cur += c;
    inWord = true;
    i++;
  }
  flush();
  return words;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const HOME_VAR = /^(?:\$HOME|\$\{HOME\})(?=\/|$)/;
const PWD_VAR = /^(?:\$PWD|\$\{PWD\})(?=\/|$)/;

function looksLikePath(w: string): boolean {
  if (w === '' || w === '-' || w.length > 4096) return false;
  if (w.includes('://')) return false;
  const c = w.charCodeAt(0);
  if (c === 47 /* / */ || c === 126 /* ~ */) return true;
  if (w === '.' || w === '..') return true;
  const slash = w.indexOf('/');
  if (slash < 0) return false;
  // host:path, user@host:path, scheme:... are not local paths
  const colon = w.indexOf(':');
  return colon < 0 || colon > slash;
}

function expandVars(w: string): string | null {
  if (HOME_VAR.test(w)) w = `~${w.replace(HOME_VAR, '')}`;
  else if (PWD_VAR.test(w)) w = `.${w.replace(PWD_VAR, '')}`;
  return w.includes('$') ? null : w;
}

/**
 * Paths a shell command names: words that look like paths (start with `/`, `~`, `./`, `../`, or contain
 * `/`), redirection targets, `--opt=/path` and `VAR=/path` values. URLs, `-flags`, here-documents and
 * words with unknown `$` expansions are skipped. A heuristic: it does not follow `cd` or expand globs.
 */
export function pathsInCommand(command: string): string[] {
  if (typeof command !== 'string' || command === '') return [];
  const src = command.length > MAX_COMMAND_SCAN ? command.slice(0, MAX_COMMAND_SCAN) : command;
  const out: string[] = [];
  const add = (p: string | null) => {
    if (p !== null && p !== '' && !out.includes(p) && out.length < MAX_COMMAND_PATHS) out.push(p);
  };
  for (const w of shellWords(src)) {
    let text = w.text;
    if (w.dynamic || text.includes('$')) {
      const e = expandVars(text);
      if (e === null) continue;
      text = e;
    }
    if (w.redirect) {
      if (text !== '' && !text.includes('://')) add(text);
      continue;
    }
    if (text.charCodeAt(0) === 45 /* - */) {
      const eq = text.indexOf('=');
      if (eq > 0 && looksLikePath(text.slice(eq + 1))) add(text.slice(eq + 1));
      continue;
    }
    if (ASSIGNMENT.test(text)) {
      for (const part of text.slice(text.indexOf('=') + 1).split(':')) if (looksLikePath(part)) add(part);
      continue;
    }
    if (looksLikePath(text)) add(text);
  }
  return out;
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
