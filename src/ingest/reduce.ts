/**
 * Privacy reduction of a hook payload for `raw_input`. In 'metadata' capture (the default) anything
 * that carries content rather than metadata (file contents, edit strings, tool output, prompts,
 * assistant messages, long errors) is replaced by `{ $reduced: true, size, lines, sha256 }`; commands,
 * URLs, patterns and paths are kept. In 'full' capture everything is kept. Either way every string that
 * is kept is secret-redacted, in the same pass.
 */

import { sha256Hex } from '../sha256.ts';
import { sortKeys } from '../sort-keys.ts';
import { isPlaceholderValue, isSecretKey, redactString, truncateField } from './redact.ts';

export type CaptureMode = 'metadata' | 'full';

export interface Digest {
  /** Bytes (UTF-8 for strings). */
  size: number;
  /** Lines: newlines, plus one for a last line without a newline. */
  lines: number;
  sha256: string;
}

export interface Reduced extends Digest {
  $reduced: true;
  [fact: string]: unknown;
}

/** Errors up to this many characters are kept (redacted) in raw_input; longer ones are reduced. */
export const ERROR_KEEP_CHARS = 2048;
/** In metadata capture, any other string longer than this is reduced (a safety net for unknown fields). */
export const LONG_TEXT_CHARS = 4096;
const MAX_DEPTH = 48;

export function countLines(s: string | Buffer): number {
  if (s.length === 0) return 0;
  let n = 0;
  if (typeof s === 'string') {
    for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
    return s.charCodeAt(s.length - 1) === 10 ? n : n + 1;
  }
  for (let i = s.indexOf(10); i >= 0; i = s.indexOf(10, i + 1)) n++;
  return s[s.length - 1] === 10 ? n : n + 1;
}

// The same content is often digested twice per event (action details and raw_input): remember the last.
let lastInput: string | Buffer | undefined;
let lastDigest: Digest | undefined;

export function digest(s: string | Buffer): Digest {
  if (s === lastInput && lastDigest !== undefined) return { ...lastDigest };
  const d: Digest = {
    size: typeof s === 'string' ? Buffer.byteLength(s, 'utf8') : s.length,
    lines: countLines(s),
    sha256: sha256Hex(s),
  };
  if (typeof s === 'string' && s.length > 64) {
    lastInput = s;
    lastDigest = d;
  }
  return { ...d };
}

export function reduced(d: Digest): Reduced {
  return { $reduced: true, lines: d.lines, sha256: d.sha256, size: d.size };
}

/**
 * Keys in sorted order: copies built in this order are already canonical, so the audit log's canonical
 * JSON can serialize them as they are instead of copying every object again (a few µs per event).
 */
function sortedKeys(o: object): string[] {
  return sortKeys(Object.keys(o));
}

/** Serialized form of any JSON value, for digests. */
function serialize(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

/** Replaces a content value (string or JSON) by its digest. null/undefined/'' carry nothing and stay. */
export function reduceValue(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return v;
  return reduced(digest(serialize(v)));
}

/** Top-level payload fields that are content in every event that has them. */
export const CONTENT_FIELDS: ReadonlySet<string> = new Set([
  'prompt',
  'last_assistant_message',
  'compact_summary',
  'custom_instructions',
  'command_args',
  'delta',
  'content',
]);

/** tool_input fields that are content, per tool. */
const TOOL_CONTENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  Write: ['content'],
  Edit: ['old_string', 'new_string'],
  MultiEdit: ['old_string', 'new_string'],
  NotebookEdit: ['new_source', 'old_source'],
  Agent: ['prompt'],
  Task: ['prompt'],
  ExitPlanMode: ['plan'],
  SendMessage: ['message', 'content'],
};

/** Fields kept even when long (they are what an audit needs); still redacted and bounded. */
const KEEP_LONG = new Set([
  'command',
  'url',
  'pattern',
  'path',
  'file_path',
  'notebook_path',
  'query',
  'glob',
]);

/** Scalar facts of a tool_response that say what happened without carrying content. */
const RESPONSE_FACTS = new Set([
  'type',
  'filePath',
  'numLines',
  'startLine',
  'totalLines',
  'status',
  'agentId',
  'agentType',
  'resolvedModel',
  'totalTokens',
  'totalDurationMs',
  'totalToolUseCount',
  'interrupted',
  'isImage',
  'noOutputExpected',
  'returnCodeInterpretation',
  'backgroundTaskId',
  'code',
  'codeText',
  'bytes',
  'durationMs',
  'durationSeconds',
  'numFiles',
  'numMatches',
  'mode',
  'truncated',
  'userModified',
  'replaceAll',
  'edit_mode',
  'cell_type',
  'language',
  'notebook_path',
  'url',
  'searchCount',
  'persistedOutputSize',
]);

function factValue(v: unknown, hits: string[]): unknown {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  if (typeof v === 'string') {
    const r = redactString(v, hits);
    return r.length > 1024 ? truncateField(r, 1024) : r;
  }
  return undefined;
}

/** tool_response -> `{ $reduced, size, lines, sha256, ...facts }` (metadata) or a redacted copy (full). */
export function reduceToolResponse(v: unknown, mode: CaptureMode, hits: string[] = []): unknown {
  if (mode === 'full') return keep('tool_response', v, hits, Number.POSITIVE_INFINITY, 0);
  if (v === null || v === undefined) return v;
  const out = reduced(digest(serialize(v)));
  if (typeof v === 'object' && !Array.isArray(v)) {
    const rec = v as Record<string, unknown>;
    const file = rec.file;
    const sources = file !== null && typeof file === 'object' && !Array.isArray(file) ? [rec, file] : [rec];
    for (const src of sources) {
      for (const k of Object.keys(src)) {
        if (!RESPONSE_FACTS.has(k) || k in out) continue;
        const f = factValue((src as Record<string, unknown>)[k], hits);
        if (f !== undefined) out[k] = f;
      }
    }
  }
  return out;
}

/** tool_input with the tool's content fields reduced (metadata) and every kept string redacted. */
export function reduceToolInput(
  toolName: string | null,
  v: unknown,
  mode: CaptureMode,
  hits: string[] = [],
): unknown {
  const full = mode === 'full';
  const limit = full ? Number.POSITIVE_INFINITY : LONG_TEXT_CHARS;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return keep('tool_input', v, hits, limit, 0);
  const content = (toolName !== null && TOOL_CONTENT_FIELDS[toolName]) || undefined;
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(v)) {
    const val = (v as Record<string, unknown>)[k];
    const key = redactString(k, hits);
    if (!full && content?.includes(k)) out[key] = reduceValue(val);
    else if (!full && toolName === 'MultiEdit' && k === 'edits' && Array.isArray(val))
      out[key] = val.map((e) => reduceFields(e, content ?? [], hits));
    else out[key] = keep(k, val, hits, limit, 1);
  }
  return out;
}

/** An object with the named fields reduced and the rest kept (redacted). */
function reduceFields(v: unknown, fields: readonly string[], hits: string[]): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return keep('', v, hits, LONG_TEXT_CHARS, 0);
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(v)) {
    const val = (v as Record<string, unknown>)[k];
    out[redactString(k, hits)] = fields.includes(k)
      ? reduceValue(val)
      : keep(k, val, hits, LONG_TEXT_CHARS, 1);
  }
  return out;
}

function reduceToolCall(c: unknown, mode: CaptureMode, hits: string[]): unknown {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return keep('', c, hits, LONG_TEXT_CHARS, 0);
  const rec = c as Record<string, unknown>;
  const toolName = typeof rec.tool_name === 'string' ? rec.tool_name : null;
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(rec)) {
    const val = rec[k];
    const key = redactString(k, hits);
    if (k === 'tool_input') out[key] = reduceToolInput(toolName, val, mode, hits);
    else if (k === 'tool_response') out[key] = reduceToolResponse(val, mode, hits);
    else out[key] = keep(k, val, hits, mode === 'full' ? Number.POSITIVE_INFINITY : LONG_TEXT_CHARS, 1);
  }
  return out;
}

/**
 * Copy of a value with strings redacted; a string under a secret-named key is replaced whole; strings
 * longer than `limit` (except KEEP_LONG fields) are reduced; depth is bounded.
 */
function keep(key: string, v: unknown, hits: string[], limit: number, depth: number): unknown {
  if (typeof v === 'string') {
    if (key !== '' && isSecretKey(key) && !isPlaceholderValue(v)) {
      hits.push('secret-field');
      return '<redacted:secret-field>';
    }
    if (v.length > limit && !KEEP_LONG.has(key)) return reduced(digest(v));
    return redactString(v, hits);
  }
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) return reduceValue(v);
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = keep(key, v[i], hits, limit, depth + 1);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(v)) {
    out[redactString(k, hits)] = keep(k, (v as Record<string, unknown>)[k], hits, limit, depth + 1);
  }
  return out;
}

/**
 * The payload as stored in raw_input: a copy, contents reduced per `mode`, every kept string redacted.
 * Rule ids of the redactions are appended to `hits`.
 */
export function reducePayload(
  payload: Record<string, unknown>,
  mode: CaptureMode,
  hits: string[] = [],
): Record<string, unknown> {
  const full = mode === 'full';
  const limit = full ? Number.POSITIVE_INFINITY : LONG_TEXT_CHARS;
  const toolName = typeof payload.tool_name === 'string' ? payload.tool_name : null;
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(payload)) {
    const v = payload[k];
    const key = redactString(k, hits);
    switch (k) {
      case 'tool_input':
        out[key] = reduceToolInput(toolName, v, mode, hits);
        break;
      case 'tool_response':
        out[key] = reduceToolResponse(v, mode, hits);
        break;
      case 'tool_calls':
        out[key] = Array.isArray(v)
          ? v.map((c) => reduceToolCall(c, mode, hits))
          : keep(k, v, hits, limit, 1);
        break;
      case 'error':
      case 'error_details':
        out[key] =
          !full && typeof v === 'string' && v.length > ERROR_KEEP_CHARS
            ? reduceValue(v)
            : keep(k, v, hits, full ? limit : ERROR_KEEP_CHARS, 1);
        break;
      case 'session_crons':
        out[key] =
          !full && Array.isArray(v)
            ? v.map((c) => reduceFields(c, ['prompt'], hits))
            : keep(k, v, hits, limit, 1);
        break;
      default:
        out[key] = !full && CONTENT_FIELDS.has(k) ? reduceValue(v) : keep(k, v, hits, limit, 1);
    }
  }
  return out;
}
