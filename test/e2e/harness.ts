/**
 * Shared pieces of the real-Claude-Code harness: sandbox layout (isolated HOME, data dir, project),
 * the environment `claude` runs with, running it with a bounded timeout, and reading its stream-json
 * output back into the list of tool calls it actually executed.
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, readPidFile } from '../../src/collector/control.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLAUDE_BIN = join(REPO_ROOT, '.e2e', 'claude-code', 'node_modules', '.bin', 'claude');
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** The API key handed to Claude Code; it must never show up in anything the product stores. */
export const MOCK_API_KEY = 'sk-ant-mock-e2e-9f3c1d7a5b2e4f60a8c9d1e2f3a4b5c6';

/** Tools the scenario uses; pre-approved in the project's settings. */
export const ALLOWED_TOOLS = ['Bash', 'Read', 'Write', 'Edit', 'Glob', 'Grep', 'TodoWrite', 'Agent', 'Task'];

export interface Sandbox {
  root: string;
  home: string;
  data: string;
  project: string;
  /** Sibling of the project, outside it. */
  evil: string;
  logs: string;
}

/** Creates `<tmp>/{home,data,project,logs}` with the project trusted and its tools pre-approved. */
export function makeSandbox(prefix = 'ct-e2e-'): Sandbox {
  // realpath: on some systems the temp dir is a symlink, and Claude Code reports resolved paths.
  const root = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  const sb: Sandbox = {
    root,
    home: join(root, 'home'),
    data: join(root, 'data'),
    project: join(root, 'project'),
    evil: join(root, 'project-evil'),
    logs: join(root, 'logs'),
  };
  for (const d of [sb.home, sb.project, sb.logs, join(sb.project, '.claude')])
    mkdirSync(d, { recursive: true });
  // Without accepted trust, `claude -p` ignores the project's permissions.allow.
  writeFileSync(
    join(sb.home, '.claude.json'),
    `${JSON.stringify({ projects: { [sb.project]: { hasTrustDialogAccepted: true } } }, null, 2)}\n`,
  );
  writeFileSync(
    join(sb.project, '.claude', 'settings.json'),
    `${JSON.stringify({ permissions: { allow: ALLOWED_TOOLS } }, null, 2)}\n`,
  );
  writeFileSync(join(sb.project, 'README.md'), '# sandbox project\n');
  const git = (...args: string[]) =>
    spawnSync(
      'git',
      ['-C', sb.project, '-c', 'user.email=e2e@example.invalid', '-c', 'user.name=e2e', ...args],
      {
        stdio: 'ignore',
        timeout: 10_000,
      },
    );
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'init');
  return sb;
}

/** A clean environment for `claude` (nothing inherited except PATH and a few basics). */
export function claudeEnv(
  sb: Sandbox,
  mockUrl: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: sb.home,
    USER: process.env.USER ?? 'e2e',
    SHELL: '/bin/bash',
    TERM: 'dumb',
    LANG: 'C.UTF-8',
    TMPDIR: tmpdir(),
    ANTHROPIC_BASE_URL: mockUrl,
    ANTHROPIC_API_KEY: MOCK_API_KEY,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    ENABLE_TOOL_SEARCH: 'false',
    CLAUDE_CODE_ENABLE_TODO_TOOLS: '1',
    // The task-list tools replace TodoWrite unless turned off.
    CLAUDE_CODE_ENABLE_TASKS: 'false',
    CLAUDE_TELEMETRY_HOME: sb.data,
    ...extra,
  };
}

/**
 * Arguments for a non-interactive run. The default permission mode is enough: the project is trusted
 * and its settings pre-approve the tools, which covers the calls that reach outside the project.
 */
export function claudeArgs(prompt: string): string[] {
  return ['-p', prompt, '--output-format', 'stream-json', '--verbose'];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard timeout (SIGTERM, then SIGKILL 3 s later); never rejects. */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs: number; input?: string },
): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const started = performance.now();
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
    }, opts.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolveRun({ code, signal, timedOut, durationMs: performance.now() - started, stdout, stderr });
    };
    child.on('error', (err) => {
      stderr += String(err);
      finish(null, null);
    });
    child.on('close', finish);
  });
}

export interface ExecutedTool {
  id: string;
  name: string;
  input: Record<string, unknown>;
  /** Tool call made by a subagent: the id of the Agent tool_use that started it. */
  parentToolUseId: string | null;
  isError: boolean;
}

interface StreamContentBlock {
  type?: string;
  id?: string;
  name?: string;
  input?: Record<string, unknown>;
  tool_use_id?: string;
  is_error?: boolean;
}

interface StreamLine {
  type?: string;
  subtype?: string;
  parent_tool_use_id?: string | null;
  message?: { content?: unknown };
}

export function parseStreamJson(stdout: string): StreamLine[] {
  const out: StreamLine[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as StreamLine);
    } catch {
      // partial line on timeout
    }
  }
  return out;
}

function blocks(line: StreamLine): StreamContentBlock[] {
  const c = line.message?.content;
  return Array.isArray(c) ? (c as StreamContentBlock[]) : [];
}

/** Tool calls that ran: an assistant tool_use block answered by a user tool_result block. */
export function executedTools(lines: StreamLine[]): ExecutedTool[] {
  const uses = new Map<string, ExecutedTool>();
  const results = new Map<string, boolean>();
  for (const line of lines) {
    for (const b of blocks(line)) {
      if (line.type === 'assistant' && b.type === 'tool_use' && b.id && b.name) {
        uses.set(b.id, {
          id: b.id,
          name: b.name,
          input: b.input ?? {},
          parentToolUseId: line.parent_tool_use_id ?? null,
          isError: false,
        });
      } else if (line.type === 'user' && b.type === 'tool_result' && b.tool_use_id) {
        results.set(b.tool_use_id, b.is_error === true);
      }
    }
  }
  const out: ExecutedTool[] = [];
  for (const [id, use] of uses) {
    const isError = results.get(id);
    if (isError !== undefined) out.push({ ...use, isError });
  }
  return out;
}

/** The final `result` line of a stream-json run, if any. */
export function resultLine(lines: StreamLine[]): Record<string, unknown> | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]?.type === 'result') return lines[i] as Record<string, unknown>;
  }
  return undefined;
}

export function claudeInstalled(): boolean {
  return existsSync(CLAUDE_BIN);
}

/**
 * Ends a run: `stop` the collector, end it by the pid it recorded if it outlived that (never by name), and
 * remove the sandbox, unless the run failed (a forced kill counts) or CT_E2E_KEEP=1 asks to keep it.
 */
export async function closeSandbox(
  s: Sandbox,
  stop: () => Promise<unknown>,
  run: { collectorPid: number | undefined; failed: boolean },
): Promise<void> {
  await stop().catch(() => undefined);
  let failed = run.failed;
  const pid = run.collectorPid ?? readPidFile(join(s.data, 'run', 'collector.pid'));
  if (pid !== undefined && isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    failed = true;
  }
  if (failed || process.env.CT_E2E_KEEP === '1')
    process.stderr.write(`e2e sandbox kept for inspection: ${s.root} (logs in ${s.logs})\n`);
  else rmSync(s.root, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
