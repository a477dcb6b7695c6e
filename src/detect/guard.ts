/**
 * The guard: a PreToolUse hook payload -> deny / ask / allow, with a reason Claude can act on. It never
 * throws: malformed or oversized input and internal errors end in `allow` (fail-open, the default) or
 * `deny` (fail-closed). Every decision becomes an audit event (`guard_decision`) when a recorder is
 * given. `guardRoute` adapts it to the collector's HTTP API (`POST /guard/pre-tool-use`).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname, userInfo } from 'node:os';
import { basename } from 'node:path';
import { timeOrderedId } from '../ingest/index.ts';
import { redactString } from '../ingest/redact.ts';
import type { TelemetryEvent } from '../types.ts';
import { DetectionEngine, type Mode, type Verdict } from './engine.ts';
import { requestFromPayload } from './input.ts';

export const GUARD_VERSION = '1';
/** Payloads larger than this are not analysed (Claude Code's own bound on hook input is far above). */
export const MAX_GUARD_BYTES = 8 * 1024 * 1024;

export interface GuardOptions {
  engine: DetectionEngine;
  mode?: Mode;
  /** Deny when the payload cannot be judged (default: allow). */
  failClosed?: boolean;
  /** Receives the audit event of every decision. */
  record?: (ev: TelemetryEvent) => void;
  now?: () => number;
}

export interface GuardResult {
  decision: 'allow' | 'ask' | 'deny';
  /** The hook response body for Claude Code. */
  response: Record<string, unknown>;
  verdict?: Verdict;
  /** Set when the payload could not be judged. */
  error?: string;
}

type Obj = Record<string, unknown>;

function parse(body: Buffer | Obj | null): { payload: Obj | null; problems: string[] } {
  if (body === null) return { payload: null, problems: ['payload too large'] };
  if (!Buffer.isBuffer(body)) return { payload: body, problems: [] };
  const problems: string[] = [];
  if (body.length > MAX_GUARD_BYTES) return { payload: null, problems: ['payload too large'] };
  if (body.indexOf(0) >= 0) problems.push('NUL bytes in payload');
  if (!isUtf8(body)) problems.push('payload is not valid UTF-8');
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return { payload: null, problems: [...problems, 'payload is not a JSON object'] };
    return { payload: v as Obj, problems };
  } catch {
    return { payload: null, problems: [...problems, 'payload is not valid JSON'] };
  }
}

/** What Claude reads when a call is denied or needs confirmation. Never echoes secrets. */
export function reasonText(v: Verdict): string {
  const top = v.detections.filter((d) => d.action === v.decision).slice(0, 3);
  const lines = top.map((d) => `[${d.rule}] ${d.reason}`);
  const head =
    v.decision === 'deny'
      ? 'Blocked by the claude-telemetry guard.'
      : 'The claude-telemetry guard asks for confirmation.';
  const tail =
    v.decision === 'deny'
      ? 'Do not try to reach the same result another way; explain to the user what you wanted to do and let them decide.'
      : '';
  return redactString([head, ...lines, tail].filter(Boolean).join('\n'));
}

function hookResponse(decision: 'ask' | 'deny', reason: string): Obj {
  return {
    hookSpecificOutput: {
      hookEventName: 'PreToolUse',
      permissionDecision: decision,
      permissionDecisionReason: reason,
    },
  };
}

/** Judges one hook call. */
/** Judges one hook call; `null` stands for a body that was too large to read. */
export function guardDecision(body: Buffer | Obj | null, opts: GuardOptions): GuardResult {
  const mode = opts.mode ?? 'standard';
  const now = opts.now?.() ?? Date.now();
  let result: GuardResult;
  let payload: Obj | null = null;
  try {
    const parsed = parse(body);
    payload = parsed.payload;
    if (payload === null) {
      const why = parsed.problems.join('; ');
      result = failure(why, opts.failClosed || mode === 'strict');
    } else {
      const req = requestFromPayload(payload, parsed.problems);
      const verdict = opts.engine.evaluate({ ...req, at: now }, mode);
      const decision = verdict.decision;
      result = {
        decision,
        verdict,
        // No opinion on allow: Claude Code's own permission rules still apply.
        response: decision === 'allow' ? {} : hookResponse(decision, reasonText(verdict)),
      };
    }
  } catch (err) {
    result = failure(`internal error: ${(err as Error)?.message ?? err}`, !!opts.failClosed);
  }
  if (opts.record) {
    try {
      opts.record(
        decisionEvent(
          payload,
          result,
          mode,
          now,
          Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body ?? null)),
        ),
      );
    } catch {
      // the decision stands even when it cannot be recorded
    }
  }
  return result;
}

function failure(why: string, closed: boolean): GuardResult {
  const error = redactString(why);
  if (!closed) return { decision: 'allow', response: {}, error };
  return {
    decision: 'deny',
    error,
    response: hookResponse(
      'deny',
      `Blocked by the claude-telemetry guard: this call could not be checked (${error}). Ask the user to run it.`,
    ),
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

let cachedUser: string | undefined;
function user(): string {
  if (cachedUser === undefined) {
    try {
      cachedUser = userInfo().username;
    } catch {
      cachedUser = process.env.USER ?? 'unknown';
    }
  }
  return cachedUser;
}

/** The audit record of one decision (redacted, no content). */
export function decisionEvent(
  payload: Obj | null,
  r: GuardResult,
  mode: Mode,
  now: number,
  body: Buffer,
): TelemetryEvent {
  const p = payload ?? {};
  const input = p.tool_input !== null && typeof p.tool_input === 'object' ? (p.tool_input as Obj) : {};
  const cwd = str(p.cwd);
  const tool = str(p.tool_name);
  const details: Record<string, unknown> = { decision: r.decision, mode, guard_version: GUARD_VERSION };
  if (typeof input.command === 'string') details.command = redactString(input.command.slice(0, 4096));
  for (const k of ['file_path', 'path', 'url', 'notebook_path'])
    if (typeof input[k] === 'string') details[k] = redactString((input[k] as string).slice(0, 4096));
  if (r.error) details.error = r.error;
  if (r.verdict) details.rules = r.verdict.detections.map((d) => d.rule);
  const ev: TelemetryEvent = {
    id: timeOrderedId(now, createHash('sha256').update(`guard\n${now}\n`).update(body).digest('hex')),
    timestamp: new Date(now).toISOString(),
    level: r.decision === 'allow' ? 'INFO' : 'WARN',
    event_type: 'guard_decision',
    hook_event: str(p.hook_event_name) || 'PreToolUse',
    session_id: redactString(str(p.session_id).slice(0, 256)) || 'unknown',
    project_path: redactString(cwd),
    project_name: cwd === '' ? '' : basename(cwd),
    tool_name: tool === '' ? null : redactString(tool.slice(0, 256)),
    action_details: details,
    metadata: { telemetry_version: GUARD_VERSION, user_id: user(), host: hostname(), scope: 'guard' },
    raw_input: { hook_event_name: str(p.hook_event_name), tool_name: tool, session_id: str(p.session_id) },
  };
  if (cwd !== '') ev.cwd = redactString(cwd);
  if (typeof p.tool_use_id === 'string') ev.tool_use_id = redactString(p.tool_use_id.slice(0, 256));
  if (typeof p.permission_mode === 'string') ev.permission_mode = p.permission_mode.slice(0, 64);
  if (r.verdict && r.verdict.detections.length > 0)
    ev.detections = r.verdict.detections.map((d) => ({
      rule: d.rule,
      severity: d.severity,
      action: d.action,
      reason: d.reason,
      mitre: d.mitre,
    }));
  return ev;
}

// ---- HTTP ------------------------------------------------------------------------------------------

/** Where the route finds the engine and records decisions: the collector's pipeline. */
export interface GuardHost {
  ingestEvents(events: readonly TelemetryEvent[]): unknown;
  detection?: { engineIfReady: DetectionEngine | undefined };
}

function readAll(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * `POST /guard/pre-tool-use[?mode=strict][&fail=closed]`: the body is the hook payload, the answer the
 * hook response JSON (200 always: a non-2xx would be a hook error, which Claude Code treats as "run").
 */
export function guardRoute(host: GuardHost, maxBytes = MAX_GUARD_BYTES) {
  let own: Promise<DetectionEngine> | undefined;
  const engineOf = async (): Promise<DetectionEngine> => {
    const ready = host.detection?.engineIfReady;
    if (ready) return ready;
    own ??= DetectionEngine.create();
    return own;
  };
  return async ({
    req,
    res,
    url,
  }: {
    req: IncomingMessage;
    res: ServerResponse;
    url: URL;
  }): Promise<void> => {
    const mode: Mode = url.searchParams.get('mode') === 'strict' ? 'strict' : 'standard';
    const failClosed = url.searchParams.get('fail') === 'closed';
    const body = await readAll(req, Math.min(maxBytes, MAX_GUARD_BYTES));
    const engine = await engineOf();
    const record = (ev: TelemetryEvent) => host.ingestEvents([ev]);
    const r = guardDecision(body, { engine, mode, failClosed, record });
    const text = JSON.stringify(r.response);
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  };
}
