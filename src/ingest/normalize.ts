/**
 * One spool record -> one TelemetryEvent: parse and validate the hook payload, type it, extract the
 * per-action facts, check project scope, reduce contents for privacy and redact secrets everywhere.
 * Input that cannot become an event throws QuarantineError; nothing else escapes.
 */
import { isUtf8 } from 'node:buffer';
import { basename } from 'node:path';
import { applyAgentContext } from '../agents/context.ts';
import { sha256Hex } from '../sha256.ts';
import {
  type ActionDetails,
  type EventMetadata,
  isObject,
  type Level,
  QuarantineError,
  type SpoolRecord,
  type TelemetryEvent,
} from '../types.ts';
import { eventTypeFor, isMcpTool, TOOL_PAYLOAD_EVENTS } from './event-types.ts';
import { redactString, truncateField } from './redact.ts';
import { type CaptureMode, CONTENT_FIELDS, countLines, digest, reducePayload } from './reduce.ts';
import {
  checkPaths,
  globBase,
  normalizePath,
  pathsInCommand,
  resolveProjectRoot,
  ScopeCache,
} from './scope.ts';

export interface NormalizeContext {
  user: string;
  host: string;
  telemetryVersion: string;
  capture: CaptureMode;
  /** Realpath/git-root memo; pass a fresh one per ingest batch. Without it a shared cache that expires every 2 s is used. */
  scopeCache?: ScopeCache;
  /** Claude Code version of a session, when the collector can tell (transcript lookup). */
  claudeVersion?: (sessionId: string, transcriptPath?: string) => string | undefined;
}

/** Error text kept on the event (redacted) is cut to this many characters. */
export const ERROR_CHARS = 2048;
const ID_CHARS = 256;
const TEXT_CHARS = 1024;

const sharedCache = new ScopeCache({ maxAgeMs: 2000 });

/**
 * Stable event id: the same spool file (its time, name and bytes) always yields the same id (timeOrderedId).
 */
export function eventIdFor(rec: SpoolRecord): string {
  return timeOrderedId(rec.mtimeMs, sha256Hex(Buffer.concat([Buffer.from(`${rec.name}\n`), rec.body])));
}

/**
 * An event id of 32 hex digits: the event's time in ms (12 digits), then the first 20 digits of a hex hash
 * of what makes the event itself. Ids of new events grow with time, so the store's unique index on them
 * takes each insert at its right-hand end instead of at a random page: at a few hundred thousand stored
 * events that halves the insert cost.
 */
export function timeOrderedId(ms: number, hashHex: string): string {
  const t = Number.isFinite(ms) ? Math.max(0, Math.min(Math.floor(ms), MAX_ID_MS)) : 0;
  return t.toString(16).padStart(12, '0') + hashHex.slice(0, 20);
}

/** Largest time a 12-hex-digit prefix holds (year 10889). */
const MAX_ID_MS = 0xffffffffffff;

const HOOK_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function short(msg: string, max = 120): string {
  const one = msg.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** Parses and validates a hook payload. Throws QuarantineError with a short reason. */
export function parsePayload(body: Buffer): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new QuarantineError('empty payload');
  let start = 0;
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3;
  if (body.indexOf(0) >= 0) throw new QuarantineError('binary payload: NUL bytes');
  if (!isUtf8(body)) throw new QuarantineError('malformed JSON: not valid UTF-8');
  const text = body.toString('utf8', start);
  if (text.trim() === '') throw new QuarantineError('empty payload');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    // V8 quotes the start of the input in some messages ("ghp_0123"... is not valid JSON): drop the quote,
    // the reason is logged and must not carry payload text.
    const msg = ((err as Error).message ?? String(err)).replace(
      /, ".*"(?:\.\.\.)? is not valid JSON$/s,
      ' (not valid JSON)',
    );
    throw new QuarantineError(`malformed JSON: ${short(msg)}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new QuarantineError(
      `not a JSON object: ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`,
    );
  }
  const p = v as Record<string, unknown>;
  const hook = p.hook_event_name;
  if (hook === undefined || hook === null) throw new QuarantineError('missing hook_event_name');
  if (typeof hook !== 'string' || !HOOK_NAME.test(hook)) throw new QuarantineError('invalid hook_event_name');
  const sid = p.session_id;
  if (sid === undefined || sid === null) throw new QuarantineError('missing session_id');
  if (
    typeof sid !== 'string' ||
    sid === '' ||
    sid.length > ID_CHARS ||
    CONTROL.test(sid) ||
    sid.trim() !== sid
  ) {
    throw new QuarantineError('invalid session_id');
  }
  return p;
}

// ---- small typed readers ---------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/** Per-event working state. */
class Work {
  readonly hits: string[] = [];
  readonly paths: string[] = [];
  /** True when the action names paths, so the scope flag must be present even when false. */
  scoped = false;
  constructor(
    readonly details: ActionDetails,
    readonly cwd: string,
    readonly home: string,
  ) {}

  /** Redacted, then bounded, text (redacting first: a cut must not leave half a token unrecognized). */
  text(v: unknown, max = TEXT_CHARS): string | undefined {
    const s = str(v);
    if (s === undefined) return undefined;
    const r = redactString(s, this.hits);
    return r.length > max ? truncateField(r, max) : r;
  }

  /** Sets details[key] when the value is defined. */
  set(key: string, v: unknown): void {
    if (v !== undefined) this.details[key] = v;
  }

  /** A path the action touches: checked for scope, and shown normalized as file_path when asked. */
  path(p: unknown, asFilePath = false): string | undefined {
    const s = str(p);
    if (s === undefined) return undefined;
    this.scoped = true;
    this.paths.push(s);
    const norm = redactString(normalizePath(s, this.cwd, this.home), this.hits);
    if (asFilePath && this.details.file_path === undefined) this.details.file_path = norm;
    return norm;
  }
}

function countPatch(patch: unknown): { added: number; removed: number } | undefined {
  if (!Array.isArray(patch)) return undefined;
  let added = 0;
  let removed = 0;
  for (const hunk of patch) {
    if (!isObject(hunk) || !Array.isArray(hunk.lines)) continue;
    for (const line of hunk.lines) {
      if (typeof line !== 'string') continue;
      const c = line.charCodeAt(0);
      if (c === 43 /* + */) added++;
      else if (c === 45 /* - */) removed++;
    }
  }
  return { added, removed };
}

function mcpParts(toolName: string): { server: string; tool: string } | undefined {
  const rest = toolName.slice(5);
  const sep = rest.indexOf('__');
  if (sep <= 0) return rest === '' ? undefined : { server: rest, tool: '' };
  return { server: rest.slice(0, sep), tool: rest.slice(sep + 2) };
}

/** Tools whose events always carry a scope verdict. */
const PATH_TOOLS = new Set([
  'Read',
  'Write',
  'Edit',
  'MultiEdit',
  'NotebookEdit',
  'NotebookRead',
  'Bash',
  'PowerShell',
  'Grep',
  'Glob',
  'LS',
]);

/** Facts of one tool call (input, plus response on Post events). */
function toolFacts(w: Work, toolName: string | null, input: unknown, response: unknown, payload?: Obj): void {
  const inp = isObject(input) ? input : {};
  const res = isObject(response) ? response : undefined;
  const d = w.details;
  if (toolName !== null && PATH_TOOLS.has(toolName)) w.scoped = true;
  switch (toolName) {
    case 'Read': {
      w.path(inp.file_path, true);
      w.set('offset', num(inp.offset));
      w.set('limit', num(inp.limit));
      const file = res && isObject(res.file) ? res.file : undefined;
      if (res) w.set('read_type', w.text(res.type, 64));
      const content = file ? str(file.content) : undefined;
      if (content !== undefined) {
        const dg = digest(content);
        d.size_bytes = dg.size;
        d.line_count = dg.lines;
        d.sha256 = dg.sha256;
      }
      if (file) w.set('total_lines', num(file.totalLines));
      break;
    }
    case 'Write': {
      w.path(inp.file_path, true);
      const content = typeof inp.content === 'string' ? inp.content : undefined;
      let lines: number | undefined;
      if (content !== undefined) {
        const dg = digest(content);
        d.size_bytes = dg.size;
        d.line_count = lines = dg.lines;
        d.sha256 = dg.sha256;
      }
      if (res) {
        const type = str(res.type);
        w.set('write_type', w.text(type, 64));
        const pc = countPatch(res.structuredPatch);
        if (pc && (pc.added > 0 || pc.removed > 0 || type !== 'create')) {
          d.lines_added = pc.added;
          d.lines_removed = pc.removed;
        } else if (type === 'create') {
          d.lines_added = lines ?? 0;
          d.lines_removed = 0;
        }
      }
      break;
    }
    case 'Edit':
    case 'MultiEdit': {
      w.path(inp.file_path, true);
      w.set('replace_all', bool(inp.replace_all));
      if (Array.isArray(inp.edits)) d.edit_count = inp.edits.length;
      if (res) {
        const pc = countPatch(res.structuredPatch);
        if (pc) {
          d.lines_added = pc.added;
          d.lines_removed = pc.removed;
        }
      }
      break;
    }
    case 'NotebookEdit':
    case 'NotebookRead': {
      w.path(inp.notebook_path, true);
      w.set('edit_mode', w.text(inp.edit_mode, 32));
      w.set('cell_type', w.text(inp.cell_type, 32));
      w.set('cell_id', w.text(inp.cell_id, ID_CHARS));
      if (typeof inp.new_source === 'string') {
        d.size_bytes = Buffer.byteLength(inp.new_source, 'utf8');
        d.line_count = countLines(inp.new_source);
      }
      break;
    }
    case 'Bash':
    case 'PowerShell': {
      const cmd = str(inp.command);
      if (cmd !== undefined) {
        d.command = redactString(cmd, w.hits);
        // Paths come from the redacted command: quote removal can glue a token to a neighbour
        // (`/x'sk-...'` is one shell word) where the rules would no longer see it.
        for (const p of pathsInCommand(d.command)) w.path(p);
      }
      // The command runs in cwd: a shell that has cd'd out of the project acts outside it.
      if (w.cwd !== '') w.path(w.cwd);
      w.set('description', w.text(inp.description));
      w.set('run_in_background', bool(inp.run_in_background));
      w.set('timeout_ms', num(inp.timeout));
      if (res) {
        const out = typeof res.stdout === 'string' ? res.stdout : '';
        const err = typeof res.stderr === 'string' ? res.stderr : '';
        d.size_bytes = Buffer.byteLength(out, 'utf8') + Buffer.byteLength(err, 'utf8');
        d.line_count = countLines(out) + countLines(err);
        w.set('interrupted', bool(res.interrupted));
      }
      break;
    }
    case 'Grep':
    case 'Glob': {
      const pattern = str(inp.pattern);
      d.search_pattern = w.text(pattern) ?? '';
      if (pattern === undefined) delete d.search_pattern;
      d.search_path = w.path(str(inp.path) ?? (w.cwd !== '' ? w.cwd : undefined));
      if (d.search_path === undefined) delete d.search_path;
      if (toolName === 'Glob' && pattern !== undefined) {
        const gb = globBase(pattern);
        if (gb !== null) w.path(gb);
      }
      w.set('glob', w.text(inp.glob));
      w.set('output_mode', w.text(inp.output_mode, 32));
      if (res) {
        w.set('num_files', num(res.numFiles));
        w.set('num_matches', num(res.numMatches));
      }
      break;
    }
    case 'LS':
      w.path(inp.path, true);
      break;
    case 'WebFetch':
      w.set('url', w.text(inp.url, 4096));
      if (res) {
        w.set('http_status', num(res.code));
        w.set('size_bytes', num(res.bytes));
      }
      break;
    case 'WebSearch':
      w.set('query', w.text(inp.query));
      break;
    case 'Agent':
    case 'Task':
      w.set('subagent_type', w.text(inp.subagent_type, ID_CHARS));
      w.set('description', w.text(inp.description));
      w.set('run_in_background', bool(inp.run_in_background));
      w.set('model', w.text(inp.model, ID_CHARS));
      if (typeof inp.prompt === 'string') d.size_bytes = Buffer.byteLength(inp.prompt, 'utf8');
      if (res) {
        w.set('subagent_id', w.text(res.agentId, ID_CHARS));
        w.set('subagent_status', w.text(res.status, 64));
        w.set('total_tokens', num(res.totalTokens));
        w.set('tool_use_count', num(res.totalToolUseCount));
        w.set('subagent_duration_ms', num(res.totalDurationMs));
      }
      break;
    case 'TodoWrite':
      if (Array.isArray(inp.todos)) d.todo_count = inp.todos.length;
      break;
    case 'TaskCreate':
    case 'TaskGet':
    case 'TaskUpdate':
    case 'TaskList':
    case 'TaskStop':
      w.set('task_subject', w.text(inp.subject));
      w.set('task_id', w.text(inp.taskId ?? inp.task_id, ID_CHARS));
      w.set('task_status', w.text(inp.status, 64));
      if (res && isObject(res.task)) w.set('task_id', w.text(res.task.id, ID_CHARS));
      break;
    case 'Skill':
    case 'SlashCommand':
      w.set('skill', w.text(inp.skill ?? inp.command ?? inp.name, ID_CHARS));
      break;
    case 'ToolSearch':
      w.set('query', w.text(inp.query));
      break;
    case 'AskUserQuestion':
      if (Array.isArray(inp.questions)) d.question_count = inp.questions.length;
      break;
    default: {
      if (toolName !== null && isMcpTool(toolName)) {
        const parts = mcpParts(toolName);
        if (parts) {
          d.mcp_server = redactString(parts.server, w.hits);
          d.mcp_tool = redactString(parts.tool, w.hits);
        }
        if (payload && isObject(payload.mcp_server))
          w.set('mcp_source', w.text(payload.mcp_server.source, 64));
      }
      // Unknown and MCP tools: the usual path-bearing argument names still get a scope check.
      for (const k of ['file_path', 'path', 'notebook_path', 'directory']) w.path(inp[k], true);
    }
  }
}

/** Payload fields that every event may carry; they become event extensions, not action details. */
const COMMON = new Set([
  'session_id',
  'transcript_path',
  'cwd',
  'hook_event_name',
  'prompt_id',
  'permission_mode',
  'effort',
  'agent_id',
  'agent_type',
]);
/** Content fields: never copied into action details (raw_input holds their digest). */
const CONTENT: ReadonlySet<string> = new Set([...CONTENT_FIELDS, 'requested_schema']);

/** Scalar fields of a non-tool event, copied into action details (strings redacted and bounded). */
function eventFacts(w: Work, p: Obj): void {
  for (const k of Object.keys(p)) {
    if (COMMON.has(k) || CONTENT.has(k)) continue;
    const v = p[k];
    if (typeof v === 'string')
      w.set(redactString(k, w.hits), w.text(v, k === 'error' ? ERROR_CHARS : TEXT_CHARS) ?? '');
    else if (typeof v === 'number' || typeof v === 'boolean') w.set(redactString(k, w.hits), v);
    else if (Array.isArray(v)) w.set(`${redactString(k, w.hits)}_count`, v.length);
  }
}

function hookFacts(w: Work, hook: string, p: Obj, toolName: string | null): void {
  const d = w.details;
  if (TOOL_PAYLOAD_EVENTS.has(hook)) {
    toolFacts(w, toolName, p.tool_input, hook === 'PostToolUse' ? p.tool_response : undefined, p);
    if (hook === 'PostToolUseFailure') w.set('interrupted', bool(p.is_interrupt));
    if (hook === 'PermissionDenied') w.set('reason', w.text(p.reason));
    if (Array.isArray(p.permission_suggestions))
      d.permission_suggestion_count = p.permission_suggestions.length;
    return;
  }
  if (hook === 'PostToolBatch') {
    const calls = Array.isArray(p.tool_calls) ? p.tool_calls : [];
    d.tool_count = calls.length;
    const names: string[] = [];
    // Facts of the calls go to a scratch object: only their paths (scope) and names matter here.
    const scratch = new Work({}, w.cwd, w.home);
    for (const c of calls) {
      if (!isObject(c)) continue;
      const name = str(c.tool_name) ?? null;
      if (name !== null && names.length < 64) names.push(truncateField(redactString(name, w.hits), ID_CHARS));
      toolFacts(scratch, name, c.tool_input, undefined);
    }
    d.tools = names;
    for (const x of scratch.paths) w.paths.push(x);
    w.hits.push(...scratch.hits);
    w.scoped = scratch.scoped;
    return;
  }
  eventFacts(w, p);
  switch (hook) {
    case 'SubagentStart':
    case 'SubagentStop':
      w.set('agent_id', w.text(p.agent_id, ID_CHARS));
      w.set('agent_type', w.text(p.agent_type, ID_CHARS));
      w.set('subagent_id', d.agent_id);
      w.set('subagent_type', d.agent_type);
      break;
    case 'UserPromptSubmit':
    case 'UserPromptExpansion':
      if (typeof p.prompt === 'string') {
        d.size_bytes = Buffer.byteLength(p.prompt, 'utf8');
        d.line_count = countLines(p.prompt);
      }
      break;
    case 'MessageDisplay':
      if (typeof p.delta === 'string') d.size_bytes = Buffer.byteLength(p.delta, 'utf8');
      break;
    case 'Elicitation':
    case 'ElicitationResult':
      w.set('mcp_server', d.mcp_server_name);
      break;
    case 'FileChanged': {
      const norm = w.path(p.file_path);
      if (norm !== undefined) d.file_path = norm;
      break;
    }
    case 'CwdChanged':
      w.path(p.new_cwd);
      break;
  }
}

function levelOf(hook: string, outside: boolean): Level {
  if (hook === 'PostToolUseFailure' || hook === 'StopFailure') return 'ERROR';
  if (outside || hook === 'PermissionDenied') return 'WARN';
  return 'INFO';
}

function build(rec: SpoolRecord, ctx: NormalizeContext): TelemetryEvent {
  const p = parsePayload(rec.body);
  const hook = p.hook_event_name as string;
  const sessionId = p.session_id as string;
  if (!Number.isFinite(rec.mtimeMs)) throw new QuarantineError('invalid spool mtime');
  const timestamp = new Date(rec.mtimeMs).toISOString();

  let cache = ctx.scopeCache;
  if (cache === undefined) {
    cache = sharedCache;
    cache.refresh();
  }
  const rawCwd = str(p.cwd);
  const root = resolveProjectRoot({ projectDir: rec.projectDir, cwd: rawCwd }, cache);
  const cwd = rawCwd !== undefined ? normalizePath(rawCwd, root || '/', cache.home) : root;
  const toolNameRaw = str(p.tool_name);
  const toolName =
    toolNameRaw === undefined
      ? null
      : toolNameRaw.length > ID_CHARS
        ? toolNameRaw.slice(0, ID_CHARS)
        : toolNameRaw;

  const details: ActionDetails = {};
  const w = new Work(details, cwd, cache.home);
  hookFacts(w, hook, p, toolName);

  let outside = false;
  if (w.scoped || w.paths.length > 0) {
    const sc = checkPaths(root, w.paths, cwd, cache);
    outside = sc.outside;
    details.outside_project_scope = outside;
    if (outside) details.outside_paths = sc.outsidePaths.map((x) => redactString(x, w.hits));
  }

  const raw = reducePayload(p, ctx.capture, w.hits);

  const ev: TelemetryEvent = {
    id: eventIdFor(rec),
    timestamp,
    level: levelOf(hook, outside),
    event_type: eventTypeFor(hook, toolName),
    hook_event: hook,
    session_id: redactString(sessionId, w.hits),
    project_path: redactString(root, w.hits),
    project_name: redactString(root === '' ? '' : basename(root) || root, w.hits),
    tool_name: toolNameRaw === undefined ? null : truncateField(redactString(toolNameRaw, w.hits), ID_CHARS),
    action_details: details,
    metadata: metadataOf(ctx, rec.scope, claudeVersionOf(ctx, sessionId, str(p.transcript_path))),
    raw_input: raw,
  };

  if (cwd !== '') ev.cwd = redactString(cwd, w.hits);
  const ext = (
    key: 'tool_use_id' | 'prompt_id' | 'agent_id' | 'agent_type' | 'permission_mode',
    v: unknown,
  ) => {
    const s = w.text(v, ID_CHARS);
    if (s !== undefined) ev[key] = s;
  };
  ext('tool_use_id', p.tool_use_id);
  ext('prompt_id', p.prompt_id);
  ext('agent_id', p.agent_id);
  ext('agent_type', p.agent_type);
  ext('permission_mode', p.permission_mode);
  const effort = isObject(p.effort) ? w.text(p.effort.level, 32) : w.text(p.effort, 32);
  if (effort !== undefined) ev.effort = effort;
  const duration = num(p.duration_ms);
  if (duration !== undefined) ev.duration_ms = duration;
  if (hook === 'PostToolUse') ev.success = true;
  else if (hook === 'PostToolUseFailure' || hook === 'StopFailure') ev.success = false;
  if (hook === 'PostToolUseFailure' || hook === 'StopFailure') {
    const e = str(p.error);
    const extra = str(p.error_details);
    const msg = e !== undefined && extra !== undefined ? `${e}: ${extra}` : (e ?? extra);
    if (msg !== undefined) ev.error = w.text(msg, ERROR_CHARS);
  }
  const transcript = w.text(p.transcript_path, 4096);
  if (transcript !== undefined) ev.transcript_path = transcript;

  liftEnvelope(ev);

  if (w.hits.length > 0) details.secrets_redacted = [...new Set(w.hits)].sort();
  applyAgentContext(ev, rec, ctx);
  return ev;
}

/**
 * Envelope fields the event already carries verbatim at the top level are not repeated in raw_input:
 * nothing is lost (the top-level copy is the same value) and every event shrinks by a few hundred bytes,
 * which the audit log, the store and every sink write again. hook_event_name, tool_name and session_id
 * stay, as in the seed's raw_input.
 */
const LIFTED: readonly (keyof TelemetryEvent & string)[] = [
  'cwd',
  'transcript_path',
  'prompt_id',
  'tool_use_id',
  'agent_id',
  'agent_type',
  'permission_mode',
  'duration_ms',
];

function liftEnvelope(ev: TelemetryEvent): void {
  const raw = ev.raw_input;
  const lifted: string[] = [];
  for (const k of LIFTED) {
    if (raw[k] !== undefined && raw[k] === ev[k]) lifted.push(k);
  }
  const effort = raw.effort;
  if (
    isObject(effort) &&
    Object.keys(effort).length === 1 &&
    typeof effort.level === 'string' &&
    effort.level === ev.effort
  ) {
    lifted.push('effort');
  }
  if (lifted.length === 0) return;
  // A copy without them rather than `delete`, which would leave raw_input a slow dictionary-mode object
  // for everything that reads it afterwards (the rules, canonical JSON, the store row).
  const kept: Record<string, unknown> = {};
  for (const k of Object.keys(raw)) if (!lifted.includes(k)) kept[k] = raw[k];
  ev.raw_input = kept;
}

/** The metadata block, its keys in canonical (sorted) order so the audit log need not reorder them. */
function metadataOf(ctx: NormalizeContext, scope: string, claudeVersion: string | undefined): EventMetadata {
  const base = { host: ctx.host, scope, telemetry_version: ctx.telemetryVersion, user_id: ctx.user };
  return claudeVersion === undefined ? base : { claude_version: claudeVersion, ...base };
}

function claudeVersionOf(
  ctx: NormalizeContext,
  sessionId: string,
  transcript: string | undefined,
): string | undefined {
  if (!ctx.claudeVersion) return undefined;
  let v: string | undefined;
  try {
    v = ctx.claudeVersion(sessionId, transcript);
  } catch {
    v = undefined;
  }
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Normalizes one spool record. Throws QuarantineError (and only that) for input that is not an event. */
export function normalize(rec: SpoolRecord, ctx: NormalizeContext): TelemetryEvent {
  try {
    return build(rec, ctx);
  } catch (err) {
    if (err instanceof QuarantineError) throw err;
    throw new QuarantineError(`normalize failed: ${short((err as Error)?.message ?? String(err))}`);
  }
}
