/**
 * What one hook call asks the engine to judge, from either a raw hook payload (guard, `evaluate`) or a
 * stored event (ingest): the tool, its input, the paths and URLs it names, and the content it carries.
 */
import { redactDeep } from '../ingest/redact.ts';
import { isObject } from '../types.ts';

export interface DetectRequest {
  event: string;
  tool: string;
  input: Record<string, unknown>;
  sessionId: string;
  cwd: string;
  /** Project root; defaults to cwd. */
  projectRoot?: string;
  permissionMode?: string;
  /** Content carried by the call (written text, tool output, prompt), produced on demand. */
  content?: () => string;
  /** Secret kinds found in the input; computed from `input` when absent. */
  secrets?: readonly string[];
  /** Problems with the payload itself (not UTF-8, NUL bytes, too large, malformed). */
  problems?: readonly string[];
  /** Epoch ms of the call (stateful rules). */
  at?: number;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Content is read up to this many characters. */
export const MAX_CONTENT_CHARS = 512 * 1024;

/** Strings of a JSON value, concatenated (tool responses are objects or arrays of text blocks). */
export function textOf(v: unknown, max = MAX_CONTENT_CHARS): string {
  const out: string[] = [];
  let size = 0;
  const walk = (x: unknown, depth: number) => {
    if (size >= max || depth > 32) return;
    if (typeof x === 'string') {
      out.push(x);
      size += x.length;
    } else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (isObject(x)) for (const k of Object.keys(x)) walk(x[k], depth + 1);
  };
  walk(v, 0);
  const s = out.join('\n');
  return s.length > max ? s.slice(0, max) : s;
}

/** Content of a tool call's input (what is written or sent) or of its response. */
export function contentOf(event: string, tool: string, input: Obj, response: unknown, payload?: Obj): string {
  if (event === 'UserPromptSubmit') return str(payload?.prompt);
  if (event === 'PostToolUse' || event === 'PostToolBatch') return textOf(response);
  switch (tool) {
    case 'Write':
      return str(input.content);
    case 'Edit':
      return str(input.new_string);
    case 'MultiEdit':
      return Array.isArray(input.edits)
        ? input.edits.map((e) => (isObject(e) ? str(e.new_string) : '')).join('\n')
        : '';
    case 'NotebookEdit':
      return str(input.new_source);
    default:
      return '';
  }
}

/** A hook payload (as Claude Code sends it) -> request. */
export function requestFromPayload(p: Obj, problems: readonly string[] = []): DetectRequest {
  const event = str(p.hook_event_name) || 'PreToolUse';
  const tool = str(p.tool_name);
  const input = isObject(p.tool_input) ? p.tool_input : {};
  const response = p.tool_response ?? p.tool_result;
  return {
    event,
    tool,
    input,
    sessionId: str(p.session_id),
    cwd: str(p.cwd),
    permissionMode: str(p.permission_mode),
    content: () => contentOf(event, tool, input, response, p),
    problems,
  };
}

/** Secret kinds in a tool input (the redactor's rule ids). */
export function secretsIn(input: Obj): string[] {
  const hits: string[] = [];
  redactDeep(input, hits);
  return [...new Set(hits)];
}
