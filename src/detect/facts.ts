/**
 * Facts the rules match on. A command is parsed and normalized into simple commands (segments) with
 * their words dequoted and decoded, wrappers stripped, paths canonicalized, network destinations and
 * the data that flows into them. Rules never see raw strings unless they ask for `cmd.raw`.
 */

/** How a path is used by the command or tool that names it. */
export type Access =
  | 'read'
  | 'write'
  | 'delete'
  | 'exec'
  | 'metadata'
  | 'copy'
  | 'upload'
  | 'link'
  | 'perm'
  | 'use'
  | 'search'
  | 'unknown';

export interface Segment {
  /** Command name: basename of the first word after wrappers (`/bin/rm` -> `rm`). */
  argv0: string;
  /** The first word as written after normalization (`/bin/rm`). */
  path0: string;
  /** Words after argv0, dequoted, decoded and expanded. */
  args: string[];
  /** Options: short bundles split (`-rf` -> `-r`, `-f`), `--opt=v` -> `--opt`, long prefixes expanded. */
  flags: string[];
  /** Words that are not options (after `--` everything is an operand). */
  operands: string[];
  /** First and second operand (subcommands: `git push`, `aws s3 cp`). */
  sub: string;
  sub2: string;
  /** Wrappers stripped to reach this command, outermost first (`sudo`, `env`, `timeout`, `xargs`...). */
  wrappers: string[];
  /** How the command was reached: `bash -c`, `eval`, `heredoc`, `decode`, `substitution`, `ssh`... */
  via: string[];
  /** argv0 is not known statically (`$VAR`, `$(...)` with an unknown value). */
  dynamicArgv0: boolean;
  /** Some argument is not known statically. */
  dynamicArgs: boolean;
  /** Targets of `>`/`>>` redirections (canonical) and `<` sources. */
  writes: string[];
  reads: string[];
  /** What feeds stdin: pipe, file, heredoc, herestring or nothing. */
  stdin: 'pipe' | 'file' | 'heredoc' | 'herestring' | 'none';
  /** argv0 of the neighbours in a pipeline ('' when none). */
  pipeFrom: string;
  pipeTo: string;
  /** Environment assignments in front of the command (`FOO=1 cmd`), names only. */
  env: string[];
  /** Inline program text of an interpreter (`python -c CODE`, `node -e CODE`, awk program). */
  code: string;
  /** Nesting depth of shell-in-shell evaluation. */
  depth: number;
}

export interface PathFact {
  /** The word as normalized from the command or the tool input. */
  raw: string;
  /** Absolute, lexically normalized, `/proc/self/root` and `/proc/self/cwd` aliases removed. */
  canonical: string;
  /** `canonical` with symlinks resolved on its existing prefix. */
  real: string;
  access: Access;
  /** Where the path was found. */
  source: 'tool' | 'operand' | 'redirect' | 'upload' | 'literal' | 'glob' | 'cwd';
  /** The operand was a glob; this fact is one of the sensitive probe paths it matches. */
  glob: boolean;
  /** Not known statically (`$VAR` unresolved). */
  dynamic: boolean;
  /** The command or tool that touches it, and that command's options and subcommand. */
  cmd: string;
  flags: string[];
  sub: string;
  via: string[];
  inProject: boolean;
  inTemp: boolean;
}

export interface NetFact {
  /** curl, wget, nc, WebFetch, dev-tcp, aws... */
  tool: string;
  url: string;
  host: string;
  port: string;
  /** Loopback, link-local-free private ranges, `.localhost`. */
  local: boolean;
  /** Files whose content is sent (canonical). */
  uploads: string[];
  /** The request body comes from stdin or from data produced upstream. */
  uploadsStdin: boolean;
  /** Inline data sent (`-d 'x'`, `--json`, query strings are in url). */
  data: string[];
  /** The URL or headers carry a credential (a redaction marker or a detected secret). */
  secretInRequest: boolean;
}

export type SourceKind = 'path' | 'env' | 'network' | 'decode' | 'command' | 'literal' | 'secret';

export interface Source {
  kind: SourceKind;
  /** Canonical path for `path`, argv0 for `command`/`network`/`decode`, '' otherwise. */
  value: string;
}

export type SinkKind = 'network' | 'clipboard' | 'dns' | 'shell' | 'interpreter' | 'file';

export interface Flow {
  sink: string;
  sinkKind: SinkKind;
  /** For network sinks: the destination is local. */
  sinkLocal: boolean;
  sources: Source[];
}

export interface CommandFacts {
  raw: string;
  segments: Segment[];
  paths: PathFact[];
  net: NetFact[];
  flows: Flow[];
  /** The parser reported syntax errors (the raw-text fallback added its facts). */
  parseError: boolean;
  /** Longer than the analysis bound: only the raw-text fallback ran. */
  oversized: boolean;
  /** Nested evaluation went deeper than the bound. */
  tooDeep: boolean;
  /** The grammar was not available: the raw-text fallback produced everything. */
  fallbackOnly: boolean;
  /** Some command name could not be resolved statically. */
  dynamic: boolean;
}

export function emptyFacts(raw: string): CommandFacts {
  return {
    raw,
    segments: [],
    paths: [],
    net: [],
    flows: [],
    parseError: false,
    oversized: false,
    tooDeep: false,
    fallbackOnly: false,
    dynamic: false,
  };
}
