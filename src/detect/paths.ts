/**
 * Path canonicalization for detection: `~` expanded, joined to the cwd, `.`/`..`/`//` folded, the
 * `/proc/self/root` and `/proc/self/cwd` aliases removed, symlinks resolved on the existing prefix, and
 * a `~/...` form for matching home-relative patterns.
 */
import { posix } from 'node:path';
import picomatch from 'picomatch';
import type { Access, PathFact } from './facts.ts';
import { expandTilde } from './shell/text.ts';

export interface PathContext {
  home: string;
  /** Working directory the path is relative to; null when unknown (after `cd $X`). */
  cwd: string | null;
  projectRoot: string;
  /** realpath of an absolute path's existing prefix (symlinks), or identity. */
  realOf: (abs: string) => string;
  /** Directories that count as scratch space (rm -rf there is routine). */
  tempRoots: readonly string[];
}

const PROC_ROOT = /^\/proc\/(?:self|thread-self|\d+)\/root(?=\/|$)/;
const PROC_CWD = /^\/proc\/(?:self|thread-self|\d+)\/cwd(?=\/|$)/;

/** Absolute canonical form, or null when the path is relative to an unknown cwd. */
export function canonicalPath(raw: string, ctx: Pick<PathContext, 'home' | 'cwd'>): string | null {
  let p = expandTilde(raw, ctx.home);
  if (p.charCodeAt(0) !== 47) {
    if (ctx.cwd === null) return null;
    p = `${ctx.cwd}/${p}`;
  }
  for (let i = 0; i < 4; i++) {
    p = posix.normalize(p);
    if (PROC_ROOT.test(p)) p = p.replace(PROC_ROOT, '') || '/';
    else if (PROC_CWD.test(p) && ctx.cwd !== null) p = ctx.cwd + p.replace(PROC_CWD, '');
    else break;
  }
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** `/home/u/.ssh/x` -> `~/.ssh/x` for the given home; other paths unchanged. */
export function tildeForm(abs: string, home: string): string {
  if (abs === home) return '~';
  if (home !== '/' && abs.startsWith(home) && abs.charCodeAt(home.length) === 47)
    return `~${abs.slice(home.length)}`;
  return abs;
}

export function within(path: string, root: string): boolean {
  if (root === '') return false;
  if (root === '/') return true;
  return path === root || (path.startsWith(root) && path.charCodeAt(root.length) === 47);
}

export interface PathInfo {
  raw: string;
  access: Access;
  source: PathFact['source'];
  cmd: string;
  flags: string[];
  sub: string;
  via: string[];
  dynamic?: boolean;
  glob?: boolean;
}

/** Builds the fact for one path; a path relative to an unknown cwd or with dynamic parts is `dynamic`. */
export function pathFact(info: PathInfo, ctx: PathContext): PathFact {
  const canon = info.dynamic ? null : canonicalPath(info.raw, ctx);
  const canonical = canon ?? info.raw;
  let real = canonical;
  if (canon !== null && !info.glob) {
    try {
      real = ctx.realOf(canon);
    } catch {
      real = canon;
    }
  }
  const inTemp = canon !== null && ctx.tempRoots.some((t) => within(real, t) && real !== t);
  return {
    raw: info.raw,
    canonical,
    real,
    access: info.access,
    source: info.source,
    glob: info.glob ?? false,
    dynamic: canon === null,
    cmd: info.cmd,
    flags: info.flags,
    sub: info.sub,
    via: info.via,
    inProject: canon !== null && within(real, ctx.projectRoot),
    inTemp,
  };
}

const globCache = new Map<string, (s: string) => boolean>();

/** A compiled, case-insensitive glob matcher (dotfiles included); compiled once per pattern. */
export function globMatcher(pattern: string): (s: string) => boolean {
  let m = globCache.get(pattern);
  if (m === undefined) {
    m = picomatch(pattern, { dot: true, nocase: true });
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(pattern, m);
  }
  return m;
}

/**
 * Probe paths (home-relative or absolute, e.g. `~/.ssh/id_rsa`) that a glob operand would match: a glob
 * is checked against what it could expand to, not against its own text (`cat ~/.ss?/id_*`).
 */
export function probesMatching(globCanonical: string, probes: readonly string[], home: string): string[] {
  const tilde = tildeForm(globCanonical, home);
  const m = globMatcher(tilde);
  const abs = globMatcher(globCanonical);
  const out: string[] = [];
  for (const p of probes) {
    const probeAbs = expandTilde(p, home);
    if (m(p) || abs(probeAbs)) out.push(probeAbs);
  }
  return out;
}
