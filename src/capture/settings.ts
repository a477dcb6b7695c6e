/**
 * Connecting the capture hook to Claude Code: merging our handlers into a settings file and taking them out
 * again, without disturbing anything else in the file, plus the projects registry (connected projects and
 * per-project opt-outs).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  constants as fsConstants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { DataPaths } from '../config/paths.ts';
import { HOOK_EVENTS } from '../ingest/event-types.ts';

/** Every hook event Claude Code knows (2.1.329); one list for capture and normalization. */
export { HOOK_EVENTS };

export type HookEvent = (typeof HOOK_EVENTS)[number];
export type ConnectTarget = 'project' | 'local' | 'global';
export const CONNECT_TARGETS: readonly ConnectTarget[] = ['project', 'local', 'global'];

/** Our handlers are recognised by this file name inside their command. */
export const HOOK_FILE_NAME = 'capture-hook.sh';

/** Seconds Claude Code waits for our handler. The hook takes a few milliseconds. */
export const HOOK_TIMEOUT_S = 10;
/**
 * SessionEnd hooks share a 1.5 s budget that Claude Code raises to the largest SessionEnd timeout found in
 * settings; a timeout under that budget keeps our handler from lengthening every session's exit.
 */
export const SESSION_END_TIMEOUT_S = 1;

export interface CommandHandler {
  type: 'command';
  command: string;
  timeout: number;
}

/** Quote a string for POSIX sh: single quotes, with each embedded `'` written as `'\''`. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell command registered for every event. Claude Code runs it with `sh -c`; the shell reads the hook
 * script itself (`.`) rather than starting a second shell for it, and a missing hook file (data dir
 * removed) ends the call with status 0 instead of an error on every event.
 */
export function hookCommand(hookPath: string, scope: ConnectTarget | 'demo'): string {
  // Without the hook file (data dir removed), stdin is still drained: Claude Code's write never meets a closed pipe.
  return `set -- ${scope} ${shQuote(hookPath)}; if [ -r "$2" ]; then . "$2"; else cat >/dev/null || :; fi`;
}

export function hookHandler(hookPath: string, scope: ConnectTarget | 'demo', event: string): CommandHandler {
  return {
    type: 'command',
    command: hookCommand(hookPath, scope),
    timeout: event === 'SessionEnd' ? SESSION_END_TIMEOUT_S : HOOK_TIMEOUT_S,
  };
}

/** The collector's API address when nothing else is said (the server's default bind and port). */
export const DEFAULT_GUARD_URL = 'http://127.0.0.1:3100';

/** Path of the collector's guard endpoint (`connect --guard`). */
export const GUARD_PATH = '/guard/pre-tool-use';

export interface GuardSetting {
  /** Base URL of the running collector's API, e.g. http://127.0.0.1:3100. */
  url: string;
  /** Block the tool call when the collector cannot be reached (default: let it run). */
  failClosed?: boolean;
  /** Guard mode: strict denies what cannot be verified. */
  strict?: boolean;
}

/** The PreToolUse `type: "http"` handler that asks the collector for a decision. */
export function guardHandler(g: GuardSetting): JsonObject {
  const q = [g.strict ? 'mode=strict' : '', g.failClosed ? 'fail=closed' : ''].filter(Boolean).join('&');
  const h: JsonObject = {
    type: 'http',
    url: `${g.url.replace(/\/+$/, '')}${GUARD_PATH}${q ? `?${q}` : ''}`,
    timeout: HOOK_TIMEOUT_S,
  };
  if (g.failClosed) h['onFailure'] = 'block';
  return h;
}

/** True for a guard handler this product registered. */
export function isOurGuardHandler(h: unknown): boolean {
  return (
    isPlainObject(h) && h['type'] === 'http' && typeof h['url'] === 'string' && h['url'].includes(GUARD_PATH)
  );
}

/** True for a handler object this product registered (any scope, any data dir). */
export function isOurHandler(h: unknown): boolean {
  return (
    isPlainObject(h) &&
    h['type'] === 'command' &&
    typeof h['command'] === 'string' &&
    h['command'].includes(HOOK_FILE_NAME)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Claude Code's own telemetry (`connect --otel`): OTLP export to the collector's receiver
//
// The entries go to the user settings file whatever the target: Claude Code (2.1.329) does not apply the
// OTLP exporter variables (OTEL_EXPORTER_OTLP_*, OTEL_LOGS_EXPORTER, ...) from project or local settings,
// only from user or managed settings and its own environment. So the export is one per user, for every
// session; `disconnect` (any target) removes it.

export interface OtelSetting {
  /** Base URL of the collector's API, e.g. http://127.0.0.1:3100 (Claude Code appends /v1/logs, /v1/metrics). */
  endpoint: string;
  /** http/protobuf (default) or http/json. */
  protocol?: 'http/protobuf' | 'http/json';
}

/**
 * The `env` entry that lists the env keys `connect --otel` wrote, so `disconnect` removes those and only those
 * (an entry the user had before, with the same value, stays theirs).
 */
export const OTEL_MARKER_KEY = 'CLAUDE_TELEMETRY_OTEL_KEYS';

/**
 * The environment Claude Code needs to export its telemetry to the collector: logs (the events, api_request
 * among them) every 2 s rather than 5 s, metrics every 10 s rather than 60 s, deltas (the default).
 */
export function otelEnv(o: OtelSetting): Record<string, string> {
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: o.protocol ?? 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: o.endpoint.replace(/\/+$/, ''),
    OTEL_LOGS_EXPORT_INTERVAL: '2000',
    OTEL_METRIC_EXPORT_INTERVAL: '10000',
  };
}

function ourOtelKeys(env: JsonObject): string[] {
  const m = env[OTEL_MARKER_KEY];
  return typeof m === 'string' ? m.split(',').filter((k) => k !== '') : [];
}

/**
 * Sets (or, without `otel`, removes) our telemetry entries in the settings' `env` block. The user's own
 * entries stay; one of the keys we need holding another value of theirs is left alone and nothing is set
 * (returned as a warning): their exporter setup wins.
 */
function setOtelEnv(doc: JsonObject, otel: OtelSetting | undefined, warnings: string[]): void {
  const env = doc['env'];
  if (env !== undefined && !isPlainObject(env)) throw new Error('"env" is not an object');
  const current: JsonObject = env ?? {};
  const ours = new Set(ourOtelKeys(current));
  const next: JsonObject = {};
  for (const [k, v] of Object.entries(current)) if (!ours.has(k) && k !== OTEL_MARKER_KEY) next[k] = v;
  if (otel) {
    const wanted = otelEnv(otel);
    const conflicts = Object.entries(wanted).filter(([k, v]) => k in next && next[k] !== v);
    if (conflicts.length > 0) {
      warnings.push(
        `telemetry export not set: env already sets ${conflicts.map(([k, v]) => `${k}=${String(next[k])} (we need ${v})`).join(', ')}; remove those to use --otel`,
      );
      return;
    }
    const added = Object.keys(wanted).filter((k) => !(k in next));
    for (const k of added) next[k] = wanted[k] as string;
    if (added.length > 0) next[OTEL_MARKER_KEY] = added.join(',');
  }
  if (Object.keys(next).length > 0) doc['env'] = next;
  else delete doc['env'];
}

// ---------------------------------------------------------------------------------------------------------
// Settings files

export interface SettingsLocation {
  target: ConnectTarget;
  projectDir?: string;
  /** User home for the global target; default: the current user's. */
  home?: string;
  /** Environment consulted for CLAUDE_CONFIG_DIR; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Claude Code's user config dir: $CLAUDE_CONFIG_DIR, else ~/.claude. */
export function claudeConfigDir(home?: string, env: NodeJS.ProcessEnv = process.env): string {
  const c = env['CLAUDE_CONFIG_DIR'];
  if (c && c.trim() !== '') return resolve(c);
  return join(home ?? homedir(), '.claude');
}

export function settingsFile(loc: SettingsLocation): string {
  if (loc.target === 'global') return join(claudeConfigDir(loc.home, loc.env), 'settings.json');
  if (!loc.projectDir) throw new Error(`a project directory is required for the ${loc.target} target`);
  const dir = resolve(loc.projectDir);
  return join(dir, '.claude', loc.target === 'project' ? 'settings.json' : 'settings.local.json');
}

/** A settings or registry file that cannot be read safely. Nothing was changed. */
export class SettingsError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = 'SettingsError';
  }
}

export interface ConnectOptions extends SettingsLocation {
  paths: DataPaths;
  /** Also register the guard (a PreToolUse http hook to the collector); absent: no guard. */
  guard?: GuardSetting;
  /** Also make Claude Code export its own telemetry to the collector (`env` entries of the user settings). */
  otel?: OtelSetting;
  /** Compute and return the change without writing anything. */
  dryRun?: boolean;
  /** Clock for backup names and registry timestamps (tests). */
  now?: () => Date;
}

export interface ChangeResult {
  /** The settings file. */
  file: string;
  /** True when the file's content changes (or would change, with dryRun). */
  changed: boolean;
  /** Copy of the previous file, when one was made. */
  backup?: string;
  /** Unified diff of the change; empty when unchanged. */
  diff: string;
  /** Things the user should know, e.g. the hooks are connected in another settings file as well. */
  warnings: string[];
  /** The change to the user settings' `env` block (`--otel`, or its removal), when it is another file. */
  otel?: { file: string; changed: boolean; backup?: string; diff: string };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Add our handler to every event. Everything else in the file is kept as it was, in the same order; a
 * second call changes nothing. Our handler sits in its own group with no matcher (which matches everything).
 */
export function connect(opts: ConnectOptions): ChangeResult {
  const file = settingsFile(opts);
  const warnings: string[] = [];
  const otel = opts.otel;
  const global = opts.target === 'global';
  const result = rewriteSettings(file, opts, (doc) => {
    addOurHooks(doc, opts.paths.hook, opts.target);
    setGuard(doc, opts.guard);
    if (global && otel) setOtelEnv(doc, otel, warnings);
  });
  if (!global && otel) withUserOtel(result, opts, (doc) => setOtelEnv(doc, otel, warnings));
  result.warnings.push(...warnings, ...otherConnections(opts, file));
  if (!opts.dryRun) {
    registerProject(opts.paths, {
      path: registryPath(opts),
      target: opts.target,
      file,
      connectedAt: (opts.now?.() ?? new Date()).toISOString(),
    });
  }
  return result;
}

/** Remove our handlers (only ours) from the settings file, and groups, event lists and `hooks` left empty. */
export function disconnect(opts: ConnectOptions): ChangeResult {
  const file = settingsFile(opts);
  const result = rewriteSettings(file, opts, removeOurHooks);
  if (opts.target !== 'global') withUserOtel(result, opts, (doc) => setOtelEnv(doc, undefined, []));
  if (!opts.dryRun) unregisterProject(opts.paths, file);
  return result;
}

/** Applies an `env` edit to the user settings file, reported as `result.otel`. */
function withUserOtel(result: ChangeResult, opts: ConnectOptions, edit: (doc: JsonObject) => void): void {
  const r = rewriteSettings(settingsFile({ ...opts, target: 'global' }), opts, edit);
  result.otel = { file: r.file, changed: r.changed, diff: r.diff, ...(r.backup ? { backup: r.backup } : {}) };
}

/** Which settings files (of the three targets) currently hold our handlers. Unreadable files are skipped. */
export function connectedFiles(
  loc: Omit<SettingsLocation, 'target'>,
): { target: ConnectTarget; file: string }[] {
  const out: { target: ConnectTarget; file: string }[] = [];
  for (const target of CONNECT_TARGETS) {
    if (target !== 'global' && !loc.projectDir) continue;
    const file = settingsFile({ ...loc, target });
    try {
      const doc = readSettings(file);
      if (doc && hasOurHooks(doc)) out.push({ target, file });
    } catch {
      // unreadable or invalid: not ours to judge here
    }
  }
  return out;
}

function otherConnections(opts: ConnectOptions, file: string): string[] {
  return connectedFiles(opts)
    .filter((c) => c.file !== file)
    .map(
      (c) =>
        `the hooks are also connected in ${c.file} (${c.target}); Claude Code runs both, so every event is captured twice`,
    );
}

function registryPath(opts: ConnectOptions): string {
  if (opts.target === 'global') return claudeConfigDir(opts.home, opts.env);
  return resolve(opts.projectDir!);
}

function hasOurHooks(doc: JsonObject): boolean {
  const hooks = doc['hooks'];
  if (!isPlainObject(hooks)) return false;
  return Object.values(hooks).some(
    (groups) =>
      Array.isArray(groups) &&
      groups.some((g) => isPlainObject(g) && Array.isArray(g['hooks']) && g['hooks'].some(isOurHandler)),
  );
}

function isCatchAll(group: JsonObject): boolean {
  const m = group['matcher'];
  return m === undefined || m === '*' || m === '';
}

function addOurHooks(doc: JsonObject, hookPath: string, scope: ConnectTarget): void {
  let hooks = doc['hooks'];
  if (hooks === undefined) {
    hooks = {};
    doc['hooks'] = hooks;
  }
  if (!isPlainObject(hooks)) throw new Error('"hooks" is not an object');
  for (const event of HOOK_EVENTS) {
    const desired = hookHandler(hookPath, scope, event) as unknown as JsonObject;
    const groups = hooks[event];
    if (groups === undefined) {
      hooks[event] = [{ hooks: [desired] }];
      continue;
    }
    if (!Array.isArray(groups)) throw new Error(`"hooks.${event}" is not an array`);
    let placed = false;
    const out: Json[] = [];
    for (const group of groups) {
      if (!isPlainObject(group) || !Array.isArray(group['hooks'])) {
        out.push(group);
        continue;
      }
      const kept: Json[] = [];
      let touched = false;
      for (const h of group['hooks']) {
        if (!isOurHandler(h)) {
          kept.push(h);
        } else if (!placed && isCatchAll(group)) {
          placed = true;
          if (JSON.stringify(h) === JSON.stringify(desired)) {
            kept.push(h);
          } else {
            kept.push(desired);
            touched = true;
          }
        } else {
          touched = true; // a duplicate, or ours behind a matcher that would filter events: drop it
        }
      }
      if (!touched) out.push(group);
      else if (kept.length > 0) out.push({ ...group, hooks: kept });
    }
    if (!placed) out.push({ hooks: [desired] });
    hooks[event] = out;
  }
}

/** Removes any guard handler, then adds the wanted one next to our PreToolUse handler. */
function setGuard(doc: JsonObject, guard: GuardSetting | undefined): void {
  const hooks = doc['hooks'];
  if (!isPlainObject(hooks) || !Array.isArray(hooks['PreToolUse'])) return;
  const groups: Json[] = [];
  for (const g of hooks['PreToolUse']) {
    if (!isPlainObject(g) || !Array.isArray(g['hooks']) || !g['hooks'].some(isOurGuardHandler)) {
      groups.push(g);
      continue;
    }
    const kept = g['hooks'].filter((h) => !isOurGuardHandler(h));
    if (kept.length > 0) groups.push({ ...g, hooks: kept });
  }
  if (guard) {
    const ours = groups.find(
      (g) => isPlainObject(g) && Array.isArray(g['hooks']) && g['hooks'].some(isOurHandler),
    );
    if (isPlainObject(ours) && Array.isArray(ours['hooks'])) ours['hooks'].push(guardHandler(guard));
    else groups.push({ hooks: [guardHandler(guard)] });
  }
  hooks['PreToolUse'] = groups;
}

function removeOurHooks(doc: JsonObject): void {
  setGuard(doc, undefined);
  setOtelEnv(doc, undefined, []);
  const hooks = doc['hooks'];
  if (hooks === undefined) return;
  if (!isPlainObject(hooks)) throw new Error('"hooks" is not an object');
  let removedAny = false;
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    let touchedEvent = false;
    const out: Json[] = [];
    for (const group of groups) {
      if (!isPlainObject(group) || !Array.isArray(group['hooks']) || !group['hooks'].some(isOurHandler)) {
        out.push(group);
        continue;
      }
      touchedEvent = true;
      const kept = group['hooks'].filter((h) => !isOurHandler(h));
      if (kept.length > 0) out.push({ ...group, hooks: kept });
    }
    if (!touchedEvent) continue;
    removedAny = true;
    if (out.length > 0) hooks[event] = out;
    else delete hooks[event];
  }
  if (removedAny && Object.keys(hooks).length === 0) delete doc['hooks'];
}

/** Parse a settings file. Missing file: null. Empty (or whitespace-only) file: `{}`. */
export function readSettings(file: string): JsonObject | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseSettings(file, text);
}

function parseSettings(file: string, text: string): JsonObject {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    const offset = jsonErrorOffset(body);
    const { line, column } = lineColumn(body, offset);
    throw new SettingsError(
      file,
      `${file}: invalid JSON at line ${line}, column ${column} (offset ${offset}): ${(e as Error).message}. The file was not changed.`,
      line,
      column,
    );
  }
  if (!isPlainObject(doc)) {
    const kind = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
    throw new SettingsError(
      file,
      `${file}: the top level is ${kind}, expected a JSON object. The file was not changed.`,
    );
  }
  return doc;
}

function rewriteSettings(file: string, opts: ConnectOptions, edit: (doc: JsonObject) => void): ChangeResult {
  let beforeText: string | null = null;
  try {
    beforeText = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const before = beforeText === null ? {} : parseSettings(file, beforeText);
  const after = beforeText === null ? {} : parseSettings(file, beforeText);
  try {
    edit(after);
  } catch (e) {
    throw new SettingsError(file, `${file}: ${(e as Error).message}. The file was not changed.`);
  }
  if (JSON.stringify(before) === JSON.stringify(after))
    return { file, changed: false, diff: '', warnings: [] };

  const afterText = `${JSON.stringify(after, null, 2)}\n`;
  const diff = unifiedDiff(beforeText ?? '', afterText, beforeText === null ? '/dev/null' : file, file);
  if (opts.dryRun) return { file, changed: true, diff, warnings: [] };

  // Write through a symlink (settings kept in a dotfiles repo stay where they are).
  let target = file;
  try {
    if (lstatSync(file).isSymbolicLink()) target = realpathSync(file);
  } catch {
    // missing: created below
  }
  let backup: string | undefined;
  let mode: number | undefined;
  if (beforeText !== null) {
    mode = statSync(target).mode & 0o7777;
    backup = makeBackup(file, target, opts.now?.() ?? new Date());
  } else {
    mkdirSync(dirname(target), { recursive: true });
  }
  writeFileAtomic(target, afterText, mode);
  return backup
    ? { file, changed: true, backup, diff, warnings: [] }
    : { file, changed: true, diff, warnings: [] };
}

function makeBackup(file: string, source: string, at: Date): string {
  const base = `${file}.bak-${at.toISOString()}`;
  for (let i = 0; ; i++) {
    const name = i === 0 ? base : `${base}-${i}`;
    try {
      copyFileSync(source, name, fsConstants.COPYFILE_EXCL);
      return name;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 1000) throw e;
    }
  }
}

/** Write a file so readers see either the old or the new content: temp file in the same dir, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Buffer, mode?: number): void {
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode ?? 0o666);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// JSON error position and diff

/** Offset of the first syntax error in a JSON text (text.length when it ends too early). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  // Thrown to stop the scan; carries nothing, the offset is `i`.
  const stop = new Error('json syntax');
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (ch: string): void => {
    if (text[i] !== ch) throw stop;
    i++;
  };
  const str = (): void => {
    expect('"');
    for (;;) {
      if (i >= text.length) throw stop;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw stop;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      i++;
      const e = text[i];
      if (e === 'u') {
        i++;
        for (let k = 0; k < 4; k++) {
          if (!/[0-9a-fA-F]/.test(text[i] ?? '')) throw stop;
          i++;
        }
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
      else throw stop;
    }
  };
  const num = (): void => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') throw stop;
    i += m[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        str();
        ws();
        expect(':');
        value();
        ws();
        if (text[i] === '}') {
          i++;
          return;
        }
        expect(',');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ']') {
          i++;
          return;
        }
        expect(',');
      }
    }
    if (c === '"') {
      str();
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (c === word[0]) {
        for (const ch of word) expect(ch);
        return;
      }
    }
    num();
  };
  try {
    value();
    ws();
  } catch (e) {
    if (e !== stop) throw e;
  }
  return Math.min(i, text.length);
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 10) {
      line++;
      start = k + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/** A unified diff (3 lines of context) between two texts, for showing a settings change before it is made. */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  // Trim the common head and tail, then align the middle by longest common subsequence.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const ops: { op: ' ' | '-' | '+'; line: string }[] = [];
  for (let k = 0; k < head; k++) ops.push({ op: ' ', line: a[k]! });
  if (am.length * bm.length > 4_000_000) {
    for (const l of am) ops.push({ op: '-', line: l });
    for (const l of bm) ops.push({ op: '+', line: l });
  } else {
    const n = am.length;
    const m = bm.length;
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let x = n - 1; x >= 0; x--) {
      for (let y = m - 1; y >= 0; y--) {
        lcs[x * (m + 1) + y] =
          am[x] === bm[y]
            ? lcs[(x + 1) * (m + 1) + y + 1]! + 1
            : Math.max(lcs[(x + 1) * (m + 1) + y]!, lcs[x * (m + 1) + y + 1]!);
      }
    }
    let x = 0;
    let y = 0;
    while (x < n || y < m) {
      if (x < n && y < m && am[x] === bm[y]) {
        ops.push({ op: ' ', line: am[x]! });
        x++;
        y++;
      } else if (x < n && (y === m || lcs[(x + 1) * (m + 1) + y]! >= lcs[x * (m + 1) + y + 1]!)) {
        ops.push({ op: '-', line: am[x]! });
        x++;
      } else {
        ops.push({ op: '+', line: bm[y]! });
        y++;
      }
    }
  }
  for (let k = a.length - tail; k < a.length; k++) ops.push({ op: ' ', line: a[k]! });

  const out = [`--- ${fromName}`, `+++ ${toName}`];
  const context = 3;
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.op === ' ') {
      k++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change that is
    // within 2*context lines of the previous one.
    const start = Math.max(0, k - context);
    let end = k;
    let lastChange = k;
    while (end < ops.length && end - lastChange <= 2 * context) {
      if (ops[end]!.op !== ' ') lastChange = end;
      end++;
    }
    end = Math.min(ops.length, lastChange + context + 1);
    let aStart = 0;
    let bStart = 0;
    for (let q = 0; q < start; q++) {
      if (ops[q]!.op !== '+') aStart++;
      if (ops[q]!.op !== '-') bStart++;
    }
    let aLen = 0;
    let bLen = 0;
    for (let q = start; q < end; q++) {
      if (ops[q]!.op !== '+') aLen++;
      if (ops[q]!.op !== '-') bLen++;
    }
    out.push(
      `@@ -${aLen === 0 ? aStart : aStart + 1},${aLen} +${bLen === 0 ? bStart : bStart + 1},${bLen} @@`,
    );
    for (let q = start; q < end; q++) out.push(`${ops[q]!.op}${ops[q]!.line}`);
    k = end;
  }
  return `${out.join('\n')}\n`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// ---------------------------------------------------------------------------------------------------------
// Projects registry

export interface ConnectedProject {
  /** Project directory (absolute); for the global target, Claude Code's user config dir. */
  path: string;
  target: ConnectTarget;
  /** The settings file holding our handlers. */
  file: string;
  /** ISO-8601 time of the first connect. */
  connectedAt: string;
}

export interface OptOut {
  /** Project directory (absolute, as given). */
  path: string;
  /** Its real path, when that differs (symlinks). */
  realPath?: string;
  /** ISO-8601 time of the opt-out. */
  at: string;
}

export interface ProjectsRegistry {
  version: 1;
  projects: ConnectedProject[];
  optOut: OptOut[];
}

/** Read the registry. Missing: empty. Invalid: SettingsError (never overwritten in that state). */
export function readRegistry(paths: DataPaths): ProjectsRegistry {
  let text: string;
  try {
    text = readFileSync(paths.projectsFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, projects: [], optOut: [] };
    throw e;
  }
  const doc = parseSettings(paths.projectsFile, text);
  const projects = Array.isArray(doc['projects']) ? doc['projects'] : [];
  const optOut = Array.isArray(doc['optOut']) ? doc['optOut'] : [];
  return {
    version: 1,
    projects: projects.filter(
      (p): p is JsonObject & ConnectedProject =>
        isPlainObject(p) &&
        typeof p['path'] === 'string' &&
        typeof p['file'] === 'string' &&
        CONNECT_TARGETS.includes(p['target'] as ConnectTarget),
    ),
    optOut: optOut.filter((o): o is JsonObject & OptOut => isPlainObject(o) && typeof o['path'] === 'string'),
  };
}

function writeRegistry(paths: DataPaths, reg: ProjectsRegistry): void {
  mkdirSync(dirname(paths.projectsFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(paths.projectsFile, `${JSON.stringify(reg, null, 2)}\n`, 0o600);
  optOutCache.delete(paths.projectsFile);
}

function registerProject(paths: DataPaths, entry: ConnectedProject): void {
  const reg = readRegistry(paths);
  const existing = reg.projects.find((p) => p.file === entry.file);
  if (existing && existing.path === entry.path && existing.target === entry.target) return;
  reg.projects = reg.projects.filter((p) => p.file !== entry.file);
  reg.projects.push(entry);
  writeRegistry(paths, reg);
}

function unregisterProject(paths: DataPaths, file: string): void {
  const reg = readRegistry(paths);
  const left = reg.projects.filter((p) => p.file !== file);
  if (left.length === reg.projects.length) return;
  reg.projects = left;
  writeRegistry(paths, reg);
}

/** Connected projects, by path. */
export function listProjects(paths: DataPaths): ConnectedProject[] {
  return [...readRegistry(paths).projects].sort((a, b) =>
    a.path === b.path ? a.target.localeCompare(b.target) : a.path < b.path ? -1 : 1,
  );
}

/** Opted-out projects, by path. */
export function listOptOuts(paths: DataPaths): OptOut[] {
  return [...readRegistry(paths).optOut].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * Stop recording a project (and everything below it) while the hooks stay connected globally. The list lives
 * in the registry inside the data dir and the collector drops matching spool records at ingest. Nothing is
 * written into the project: a marker there would be writable by the very agent being watched.
 * Returns false when the project was already opted out.
 */
export function optOut(paths: DataPaths, projectDir: string, now: Date = new Date()): boolean {
  const path = resolve(projectDir);
  const reg = readRegistry(paths);
  if (reg.optOut.some((o) => o.path === path)) return false;
  const real = realOrNull(path);
  reg.optOut.push(
    real && real !== path ? { path, realPath: real, at: now.toISOString() } : { path, at: now.toISOString() },
  );
  writeRegistry(paths, reg);
  return true;
}

/** Undo optOut. Returns false when the project was not opted out. */
export function optIn(paths: DataPaths, projectDir: string): boolean {
  const path = resolve(projectDir);
  const real = realOrNull(path);
  const reg = readRegistry(paths);
  const left = reg.optOut.filter(
    (o) => o.path !== path && !(real !== null && (o.realPath ?? o.path) === real),
  );
  if (left.length === reg.optOut.length) return false;
  reg.optOut = left;
  writeRegistry(paths, reg);
  return true;
}

interface OptOutCacheEntry {
  checkedAt: number;
  stamp: string;
  roots: string[];
  memo: Map<string, boolean>;
}

const optOutCache = new Map<string, OptOutCacheEntry>();
/** How long isOptedOut trusts its copy of the registry before looking at the file again. */
export const OPT_OUT_RECHECK_MS = 1000;
const MEMO_LIMIT = 4096;

/** Forget cached opt-out lists (another process changed the registry and the caller cannot wait). */
export function clearOptOutCache(): void {
  optOutCache.clear();
}

function optOutRoots(paths: DataPaths): OptOutCacheEntry {
  const file = paths.projectsFile;
  const now = Date.now();
  const cached = optOutCache.get(file);
  if (cached && now - cached.checkedAt < OPT_OUT_RECHECK_MS) return cached;
  let stamp = 'missing';
  try {
    const st = statSync(file, { bigint: true });
    stamp = `${st.mtimeNs}:${st.size}:${st.ino}`;
  } catch {
    // no registry: no opt-outs
  }
  if (cached && cached.stamp === stamp) {
    cached.checkedAt = now;
    return cached;
  }
  let roots: string[];
  try {
    roots = readRegistry(paths).optOut.flatMap((o) => (o.realPath ? [o.path, o.realPath] : [o.path]));
  } catch {
    // A registry that cannot be read keeps the last list that could (none at first): recording too much
    // is recoverable, silently recording nothing is not.
    roots = cached?.roots ?? [];
  }
  const entry = { checkedAt: now, stamp, roots, memo: new Map<string, boolean>() };
  optOutCache.set(file, entry);
  return entry;
}

/**
 * True when `dir` (a record's project dir or cwd) is an opted-out project or lies below one. Cheap enough
 * to call per spool record: the registry is re-read only when it changed, answers are memoised.
 */
export function isOptedOut(paths: DataPaths, dir: string | null | undefined): boolean {
  if (!dir) return false;
  const entry = optOutRoots(paths);
  if (entry.roots.length === 0) return false;
  const hit = entry.memo.get(dir);
  if (hit !== undefined) return hit;
  const p = resolve(dir);
  const result = entry.roots.some(
    (root) => p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`),
  );
  if (entry.memo.size >= MEMO_LIMIT) entry.memo.clear();
  entry.memo.set(dir, result);
  return result;
}
