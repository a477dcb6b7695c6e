/**
 * A local stand-in for the Anthropic Messages API, good enough to drive a real `claude -p` session
 * through a scripted list of tool calls. It binds 127.0.0.1 on an ephemeral port and never talks to
 * anything else.
 *
 * Protocol notes:
 * - Claude Code calls `POST /v1/messages?beta=true` with `stream: true` and expects server-sent events:
 *   message_start, content_block_start, ping, content_block_delta (text_delta / input_json_delta),
 *   content_block_stop, message_delta, message_stop. `stream: false` gets a plain JSON message.
 * - Requests that carry no `tools` are side requests (titles, summaries, classifiers): a short text.
 * - Subagent requests carry the header `x-claude-code-agent-id`; the main agent's requests do not.
 *   Each agent follows its own script; turn n of an agent (n = assistant messages already in the
 *   history it sends) is answered with step n of its script.
 * - Steps naming tools the running build does not offer (per the request's `tools`) are skipped.
 * - The usage it reports is summed per agent key (side requests under "side"), so tests can compare what
 *   the product counted with what the API said.
 *
 * Run standalone for debugging:
 *   node --import tsx test/e2e/mock-anthropic.ts --project <abs dir> [--port 8765] [--log requests.jsonl]
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export interface ScriptedTool {
  name: string;
  input: Record<string, unknown>;
}

/** One assistant turn: either tool calls (several = parallel calls in one message) or a final text. */
export type ScriptStep = { tools: ScriptedTool[] } | { text: string };

export interface Scenario {
  main: ScriptStep[];
  subagent: ScriptStep[];
  /**
   * Scripts for particular subagents: the first whose `match` occurs in the subagent's first message (its
   * prompt) is followed; other subagents follow `subagent`.
   */
  subagents?: { match: string; steps: ScriptStep[] }[];
}

/** Marker strings the scenario uses, so tests can find the calls again. */
export const MARKERS = {
  echo: 'echo hello-from-e2e',
  parallelEcho: 'echo parallel-branch',
  subagentEcho: 'echo from-subagent',
  failing: 'cat ./missing-file.txt',
  outsideBash: 'cat /etc/hostname',
  relative: 'wc -l ./notes.txt',
  listSrc: 'ls ./src',
  mkdirBuild: 'mkdir -p ./build && echo done > ./build/out.txt',
} as const;

export const OUTSIDE_READ_PATH = '/etc/hostname';

/** Paths the scenario touches, derived from the project directory (absolute, no trailing slash). */
export function scenarioPaths(projectDir: string): {
  notes: string;
  util: string;
  evilDir: string;
  evilFile: string;
} {
  return {
    notes: join(projectDir, 'notes.txt'),
    util: join(projectDir, 'src', 'util.txt'),
    evilDir: `${projectDir}-evil`,
    evilFile: join(`${projectDir}-evil`, 'x.txt'),
  };
}

/**
 * The full scenario: about 20 tool calls in the main agent plus a subagent that runs its own Bash and
 * Read. Inside paths are in `projectDir`; a few calls deliberately reach outside it.
 */
export function fullScenario(projectDir: string): Scenario {
  const p = scenarioPaths(projectDir);
  const bash = (command: string, description: string): ScriptedTool => ({
    name: 'Bash',
    input: { command, description },
  });
  return {
    main: [
      { tools: [{ name: 'Write', input: { file_path: p.notes, content: 'alpha\nbeta\n' } }] },
      { tools: [{ name: 'Read', input: { file_path: p.notes } }] },
      { tools: [{ name: 'Edit', input: { file_path: p.notes, old_string: 'beta', new_string: 'gamma' } }] },
      { tools: [bash(MARKERS.echo, 'Print a greeting')] },
      { tools: [bash(MARKERS.failing, 'Read a file that does not exist')] },
      { tools: [bash(MARKERS.outsideBash, 'Read a system file')] },
      { tools: [{ name: 'Read', input: { file_path: OUTSIDE_READ_PATH } }] },
      { tools: [{ name: 'Write', input: { file_path: p.evilFile, content: 'outside the project\n' } }] },
      { tools: [bash(MARKERS.relative, 'Count lines of the notes')] },
      {
        tools: [
          { name: 'Read', input: { file_path: p.notes } },
          bash(MARKERS.parallelEcho, 'Print a marker in parallel'),
          { name: 'Glob', input: { pattern: '*.txt' } },
          { name: 'Grep', input: { pattern: 'gamma', output_mode: 'content' } },
        ],
      },
      { tools: [{ name: 'Write', input: { file_path: p.util, content: 'one\ntwo\nthree\n' } }] },
      { tools: [{ name: 'Read', input: { file_path: p.util, offset: 1, limit: 2 } }] },
      { tools: [{ name: 'Edit', input: { file_path: p.util, old_string: 'two', new_string: 'TWO' } }] },
      { tools: [bash(MARKERS.listSrc, 'List the src directory')] },
      { tools: [bash(MARKERS.mkdirBuild, 'Create a build output inside the project')] },
      {
        tools: [
          {
            name: 'TodoWrite',
            input: {
              todos: [
                {
                  content: 'Summarise the notes',
                  status: 'in_progress',
                  activeForm: 'Summarising the notes',
                },
                { content: 'Report back', status: 'pending', activeForm: 'Reporting back' },
              ],
            },
          },
        ],
      },
      {
        tools: [
          {
            name: 'Agent',
            input: {
              description: 'Inspect the notes',
              prompt: `Run \`${MARKERS.subagentEcho}\` and read ${p.notes}, then report.`,
              subagent_type: 'general-purpose',
              run_in_background: false,
            },
          },
        ],
      },
      { text: 'All scripted steps are done.' },
    ],
    subagent: [
      { tools: [bash(MARKERS.subagentEcho, 'Print the subagent marker')] },
      { tools: [{ name: 'Read', input: { file_path: p.notes } }] },
      { text: 'Subagent finished: from-subagent, notes read.' },
    ],
  };
}

/** The subagent tool was called "Task" in older builds and "Agent" in newer ones. */
const ALIASES: Record<string, string[]> = { Agent: ['Agent', 'Task'], Task: ['Task', 'Agent'] };

/** Drops tools the build does not offer; null when nothing of the step is left. */
export function resolveStep(step: ScriptStep, offered: ReadonlySet<string>): ScriptStep | null {
  if (!('tools' in step)) return step;
  const tools: ScriptedTool[] = [];
  for (const t of step.tools) {
    const name = (ALIASES[t.name] ?? [t.name]).find((n) => offered.has(n));
    if (name) tools.push({ name, input: t.input });
  }
  return tools.length > 0 ? { tools } : null;
}

export interface AgentState {
  /** Requests answered for this agent (all of them, retries included). */
  requests: number;
  /** Last step index answered. */
  lastStep: number;
  /** Usage reported in the answers, summed. */
  input: number;
  output: number;
}

export interface MockAnthropicOptions {
  /** Builds the scenario; called once. */
  scenario: Scenario;
  /** JSONL file that receives one line per request (bodies trimmed, keys redacted). */
  logFile?: string;
  /** Fixed port; 0 (default) = ephemeral. */
  port?: number;
}

export interface MockAnthropic {
  url: string;
  port: number;
  /**
   * Requests answered and usage reported per agent key ("<session>/main", "<session>/<agent id>", or
   * "<session>/side" for requests without tools).
   */
  agents(): Record<string, AgentState>;
  close(): Promise<void>;
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

interface MessagesBody {
  model?: string;
  stream?: boolean;
  tools?: { name?: string }[];
  messages?: { role?: string; content?: unknown }[];
}

let idSeq = 0;
function mockId(prefix: string): string {
  idSeq += 1;
  return `${prefix}_mock${Date.now().toString(36)}${idSeq.toString(36).padStart(5, '0')}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Splits a string into two halves (the real API streams deltas in several pieces). */
function halves(s: string): string[] {
  const mid = Math.ceil(s.length / 2);
  return [s.slice(0, mid), s.slice(mid)].filter((x) => x !== '');
}

function reply(
  res: ServerResponse,
  body: MessagesBody,
  content: Block[],
  stopReason: string,
): { input: number; output: number } {
  const model = body.model ?? 'claude-mock';
  const usage = {
    input_tokens: Math.max(1, Math.round(JSON.stringify(body.messages ?? []).length / 4)),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: Math.max(1, Math.round(JSON.stringify(content).length / 4)),
    service_tier: 'standard',
  };
  const msgId = mockId('msg');
  res.setHeader('request-id', mockId('req'));
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: msgId,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      }),
    );
    return { input: usage.input_tokens, output: usage.output_tokens };
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id: msgId,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'text', text: '' },
      });
      if (index === 0) sse(res, 'ping', { type: 'ping' });
      for (const part of halves(block.text)) {
        sse(res, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'text_delta', text: part },
        });
      }
    } else {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      if (index === 0) sse(res, 'ping', { type: 'ping' });
      for (const part of ['', ...halves(JSON.stringify(block.input))]) {
        sse(res, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: part },
        });
      }
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
  return { input: usage.input_tokens, output: usage.output_tokens };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Starts the mock; resolves once it listens. */
export async function startMockAnthropic(opts: MockAnthropicOptions): Promise<MockAnthropic> {
  const state = new Map<string, AgentState>();
  const log = (entry: Record<string, unknown>): void => {
    if (!opts.logFile) return;
    try {
      appendFileSync(opts.logFile, `${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);
    } catch {
      // logging is best effort
    }
  };

  const answerMessages = (
    req: IncomingMessage,
    res: ServerResponse,
    body: MessagesBody,
  ): Record<string, unknown> => {
    const offered = new Set((body.tools ?? []).map((t) => t.name ?? ''));
    const agentId = header(req, 'x-claude-code-agent-id');
    const session = header(req, 'x-claude-code-session-id') ?? 'no-session';
    const count = (key: string, u: { input: number; output: number }, step = -1) => {
      const st = state.get(key) ?? { requests: 0, lastStep: -1, input: 0, output: 0 };
      st.requests += 1;
      st.lastStep = step;
      st.input += u.input;
      st.output += u.output;
      state.set(key, st);
    };
    if (offered.size === 0) {
      count(`${session}/side`, reply(res, body, [{ type: 'text', text: 'Mock reply.' }], 'end_turn'));
      return { kind: 'side' };
    }
    const key = `${session}/${agentId ?? 'main'}`;
    const prompt = JSON.stringify(body.messages?.[0]?.content ?? '');
    const script = agentId
      ? (opts.scenario.subagents?.find((s) => prompt.includes(s.match))?.steps ?? opts.scenario.subagent)
      : opts.scenario.main;
    const usable = script.map((s) => resolveStep(s, offered)).filter((s): s is ScriptStep => s !== null);
    // Turn n = number of assistant messages already in the history; a retried request (same
    // history) gets the same step again rather than skipping one.
    const turn = (body.messages ?? []).filter((m) => m.role === 'assistant').length;
    const index = Math.min(turn, usable.length - 1);
    const step = usable[index] ?? { text: 'Done.' };
    const content: Block[] =
      'tools' in step
        ? step.tools.map((t) => ({ type: 'tool_use', id: mockId('toolu'), name: t.name, input: t.input }))
        : [{ type: 'text', text: step.text }];
    count(key, reply(res, body, content, 'tools' in step ? 'tool_use' : 'end_turn'), index);
    return { kind: agentId ? 'subagent' : 'main', key, turn, step: index, of: usable.length, reply: content };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const entry: Record<string, unknown> = {
        method: req.method,
        path: url.pathname,
        query: url.search,
        agent: header(req, 'x-claude-code-agent-id') ?? null,
        session: header(req, 'x-claude-code-session-id') ?? null,
        userAgent: header(req, 'user-agent') ?? null,
      };
      try {
        if (req.method === 'POST' && url.pathname === '/v1/messages') {
          let body: MessagesBody = {};
          try {
            body = raw ? (JSON.parse(raw) as MessagesBody) : {};
          } catch {
            entry.unparsed = raw.slice(0, 500);
          }
          entry.tools = (body.tools ?? []).map((t) => t.name);
          entry.messages = (body.messages ?? []).length;
          entry.lastMessage = JSON.stringify(body.messages?.at(-1)?.content ?? null).slice(0, 1500);
          entry.mock = answerMessages(req, res, body);
        } else if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
          json(res, 200, { input_tokens: Math.max(1, Math.round(raw.length / 4)) });
        } else if (url.pathname === '/api/hello' || (req.method === 'HEAD' && url.pathname === '/')) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(req.method === 'HEAD' ? undefined : '{"message":"hello"}');
        } else if (req.method === 'GET' && url.pathname === '/v1/models') {
          json(res, 200, { data: [], has_more: false, first_id: null, last_id: null });
        } else {
          entry.unhandled = true;
          json(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'mock: not found' } });
        }
      } catch (err) {
        entry.error = String(err);
        if (!res.headersSent)
          json(res, 500, { type: 'error', error: { type: 'api_error', message: 'mock failure' } });
        else res.end();
      }
      log(entry);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    agents: () => Object.fromEntries([...state].map(([k, v]) => [k, { ...v }])),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { project: { type: 'string' }, port: { type: 'string' }, log: { type: 'string' } },
  });
  if (!values.project) {
    process.stderr.write('usage: mock-anthropic.ts --project <abs dir> [--port N] [--log file.jsonl]\n');
    process.exit(2);
  }
  const mock = await startMockAnthropic({
    scenario: fullScenario(values.project),
    port: Number(values.port ?? 0),
    logFile: values.log,
  });
  process.stdout.write(`${mock.url}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void main();
}
