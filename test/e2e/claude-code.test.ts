/**
 * End to end with a real Claude Code build: the product is set up, started and connected exactly as a
 * user would do it, `claude -p` runs a scripted session against a local mock of the Anthropic API, and
 * what `claude-telemetry query` returns is checked against what Claude Code reports it executed.
 *
 * Needs `bash scripts/install-claude-code.sh` and `npm run build` first (skips when Claude Code is not
 * installed). Set CT_E2E_KEEP=1 to keep the sandbox directory for inspection.
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPidFile as readPid } from '../../src/collector/control.ts';
import type { TelemetryEvent } from '../../src/types.ts';
import {
  CLAUDE_BIN,
  CLI_MAIN,
  claudeArgs,
  claudeEnv,
  claudeInstalled,
  closeSandbox,
  type ExecutedTool,
  executedTools,
  MOCK_API_KEY,
  makeSandbox,
  parseStreamJson,
  REPO_ROOT,
  type RunResult,
  resultLine,
  run,
  type Sandbox,
  sleep,
} from './harness.ts';
import {
  fullScenario,
  MARKERS,
  type MockAnthropic,
  OUTSIDE_READ_PATH,
  startMockAnthropic,
} from './mock-anthropic.ts';

const CLAUDE_TIMEOUT_MS = 90_000;
const INGEST_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 20_000;
/** Bound for everything before the checks: CLI set-up, the Claude Code run, ingest. */
const SETUP_TIMEOUT_MS = 160_000;

const EVENT_TYPE: Record<string, string> = {
  Write: 'file_write',
  Read: 'file_read',
  Edit: 'file_edit',
  Bash: 'command_execution',
  Agent: 'sub_agent_delegation',
  Task: 'sub_agent_delegation',
  TodoWrite: 'task_management',
};

// Skipped on a developer machine without Claude Code; in CI (which installs it first) a missing binary fails.
const skip =
  claudeInstalled() || process.env.CI
    ? false
    : `Claude Code is not installed at ${relative(REPO_ROOT, CLAUDE_BIN)}; run: bash scripts/install-claude-code.sh`;

interface SessionRun {
  sb: Sandbox;
  claude: RunResult;
  executed: ExecutedTool[];
  sessionId: string;
  events: TelemetryEvent[];
  status: StatusJson;
  settingsAfterConnect: { permissions?: { allow?: string[] }; hooks?: Record<string, unknown> };
}

interface StatusJson {
  running?: boolean;
  pid?: number;
  spoolBacklog?: number;
  eventsStored?: number;
  quarantined?: number;
}

describe('real Claude Code session, captured end to end', { skip, timeout: 175_000 }, () => {
  let sb: Sandbox | undefined;
  let mock: MockAnthropic | undefined;
  let collectorPid: number | undefined;
  let session: SessionRun | undefined;
  let failed = false;

  const cliEnv = (s: Sandbox): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: s.home,
    CLAUDE_TELEMETRY_HOME: s.data,
    LANG: 'C.UTF-8',
  });

  /** Runs `claude-telemetry <args>` the way a user would: node on the built entry point. */
  const cli = async (s: Sandbox, args: string[], cwd = s.project): Promise<RunResult> => {
    const r = await run(process.execPath, [CLI_MAIN, ...args], {
      cwd,
      env: cliEnv(s),
      timeoutMs: CLI_TIMEOUT_MS,
    });
    writeFileSync(
      join(s.logs, `cli-${args[0]}-${Date.now()}.log`),
      `$ claude-telemetry ${args.join(' ')}\nexit ${r.code} signal ${r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n`,
    );
    return r;
  };

  const cliOk = async (s: Sandbox, args: string[], cwd?: string): Promise<RunResult> => {
    const r = await cli(s, args, cwd);
    assert.equal(
      r.code,
      0,
      `claude-telemetry ${args.join(' ')} exited ${r.code} (signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
    );
    return r;
  };

  const status = async (s: Sandbox): Promise<StatusJson> => {
    const r = await cliOk(s, ['status', '--json']);
    return JSON.parse(r.stdout) as StatusJson;
  };

  /** Waits until the spool is drained and the stored-event count stops moving (bounded). */
  const waitForIngest = async (s: Sandbox): Promise<StatusJson> => {
    const deadline = Date.now() + INGEST_TIMEOUT_MS;
    let last: StatusJson = {};
    let stableRounds = 0;
    while (Date.now() < deadline) {
      const st = await status(s);
      const drained = st.spoolBacklog === 0 && (st.eventsStored ?? 0) > 0;
      stableRounds = drained && st.eventsStored === last.eventsStored ? stableRounds + 1 : 0;
      last = st;
      if (stableRounds >= 2) return st;
      await sleep(250);
    }
    assert.fail(
      `collector did not drain the spool within ${INGEST_TIMEOUT_MS} ms; last status: ${JSON.stringify(last)}`,
    );
  };

  before(
    async () => {
      failed = true; // until the session ran and was read back
      assert.ok(existsSync(CLI_MAIN), `${relative(REPO_ROOT, CLI_MAIN)} is missing; run: npm run build`);
      sb = makeSandbox();
      const s = sb;

      await cliOk(s, ['setup']);
      await cliOk(s, ['start']);
      collectorPid = readPid(join(s.data, 'run', 'collector.pid'));
      assert.ok(collectorPid, 'collector pid file missing after `claude-telemetry start`');
      await cliOk(s, ['connect']);
      const settingsAfterConnect = JSON.parse(
        readFileSync(join(s.project, '.claude', 'settings.json'), 'utf8'),
      );

      mock = await startMockAnthropic({
        scenario: fullScenario(s.project),
        logFile: join(s.logs, 'mock-requests.jsonl'),
      });
      const claude = await run(CLAUDE_BIN, claudeArgs('Walk through the scripted steps, please.'), {
        cwd: s.project,
        env: claudeEnv(s, mock.url),
        timeoutMs: CLAUDE_TIMEOUT_MS,
      });
      writeFileSync(join(s.logs, 'stream.jsonl'), claude.stdout);
      writeFileSync(join(s.logs, 'claude.stderr'), claude.stderr);
      assert.ok(!claude.timedOut, `claude did not finish within ${CLAUDE_TIMEOUT_MS} ms (logs: ${s.logs})`);
      assert.equal(claude.code, 0, `claude exited ${claude.code}; stderr:\n${claude.stderr.slice(0, 2000)}`);

      const lines = parseStreamJson(claude.stdout);
      const result = resultLine(lines);
      const sessionId = String(result?.session_id ?? '');
      assert.ok(sessionId, 'no result line with a session_id in the stream-json output');

      const st = await waitForIngest(s);
      const q = await cliOk(s, ['query', '--json', '--limit', '1000']);
      const events = JSON.parse(q.stdout) as TelemetryEvent[];
      writeFileSync(join(s.logs, 'events.json'), q.stdout);
      session = {
        sb: s,
        claude,
        executed: executedTools(lines),
        sessionId,
        events,
        status: st,
        settingsAfterConnect,
      };
      failed = false;
    },
    { timeout: SETUP_TIMEOUT_MS },
  );

  after(async () => {
    if (mock) await mock.close();
    if (!sb) return;
    const s = sb;
    await closeSandbox(s, () => cli(s, ['stop']), { collectorPid, failed });
  });

  /** Wraps a check so a failure keeps the sandbox around. */
  const check = (name: string, fn: (r: SessionRun) => void | Promise<void>) =>
    it(name, async () => {
      try {
        assert.ok(session, 'the session did not run (see the before hook failure)');
        await fn(session);
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  check('connect keeps the permissions already in the project settings and adds hooks', (r) => {
    const allow = r.settingsAfterConnect.permissions?.allow ?? [];
    for (const tool of ['Bash', 'Read', 'Write', 'Edit', 'Agent']) {
      assert.ok(
        allow.includes(tool),
        `permissions.allow lost "${tool}" after connect: ${JSON.stringify(allow)}`,
      );
    }
    const hooks = r.settingsAfterConnect.hooks ?? {};
    for (const ev of ['PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'SessionStart', 'SubagentStart']) {
      assert.ok(ev in hooks, `connect did not register a ${ev} hook: ${Object.keys(hooks).join(', ')}`);
    }
  });

  check('Claude Code executed the scripted tool calls', (r) => {
    const names = r.executed.map((t) => t.name);
    for (const name of ['Write', 'Read', 'Edit', 'Bash'])
      assert.ok(names.includes(name), `no ${name} call ran`);
    assert.ok(
      names.includes('Agent') || names.includes('Task'),
      `no subagent call ran; executed: ${names.join(', ')}`,
    );
    assert.ok(r.executed.length >= 18, `only ${r.executed.length} tool calls ran: ${names.join(', ')}`);
    assert.ok(existsSync(join(r.sb.evil, 'x.txt')), 'the write outside the project did not happen');
    const failing = r.executed.find((t) => t.input.command === MARKERS.failing);
    assert.equal(failing?.isError, true, 'the failing Bash call did not fail');
  });

  check('every event belongs to the session and the project', (r) => {
    assert.ok(r.events.length > 0, 'query returned no events');
    const sessions = new Set(r.events.map((e) => e.session_id));
    assert.deepEqual([...sessions], [r.sessionId], 'events from unexpected sessions');
    for (const e of r.events) {
      assert.equal(e.project_path, r.sb.project, `project_path of ${describeEvent(e)}`);
    }
    assert.equal(
      r.status.quarantined ?? 0,
      0,
      `the collector quarantined ${r.status.quarantined} payload(s)`,
    );
  });

  check('the Claude Code version is read from the transcript', (r) => {
    // Hook payloads do not carry it; the transcript does once Claude Code has written it.
    const versions = new Set(r.events.map((e) => e.metadata.claude_version).filter((v) => v !== undefined));
    assert.deepEqual([...versions], ['2.1.329']);
    const stop = r.events.find((e) => e.hook_event === 'Stop');
    assert.equal(stop?.metadata.claude_version, '2.1.329');
  });

  check('session lifecycle events are present', (r) => {
    const hooks = new Set(r.events.map((e) => e.hook_event));
    for (const ev of [
      'SessionStart',
      'UserPromptSubmit',
      'SubagentStart',
      'SubagentStop',
      'Stop',
      'SessionEnd',
    ]) {
      assert.ok(hooks.has(ev), `no ${ev} event; got: ${[...hooks].sort().join(', ')}`);
    }
  });

  check('each executed tool call has one Pre and one Post event with the right type and details', (r) => {
    // Collects every mismatch before failing, so one run shows the whole picture.
    const problems: string[] = [];
    const expect = (ok: boolean, msg: string) => {
      if (!ok) problems.push(msg);
    };
    for (const tool of r.executed) {
      const mine = eventsOf(r.events, tool);
      const pre = mine.filter((e) => e.hook_event === 'PreToolUse');
      const postHook = tool.isError ? 'PostToolUseFailure' : 'PostToolUse';
      const post = mine.filter((e) => e.hook_event === postHook);
      const label = `${tool.name} ${JSON.stringify(tool.input).slice(0, 100)}`;
      expect(pre.length === 1, `${label}: expected 1 PreToolUse event, got ${pre.length}`);
      expect(post.length === 1, `${label}: expected 1 ${postHook} event, got ${post.length}`);
      for (const e of [...pre, ...post]) {
        const at = `${label} / ${e.hook_event}`;
        expect(e.tool_name === tool.name, `${at}: tool_name ${e.tool_name}`);
        const type = EVENT_TYPE[tool.name];
        expect(!type || e.event_type === type, `${at}: event_type is "${e.event_type}", expected "${type}"`);
        const fp = tool.input.file_path;
        expect(
          typeof fp !== 'string' || e.action_details.file_path === fp,
          `${at}: action_details.file_path is ${JSON.stringify(e.action_details.file_path)}, expected ${fp}`,
        );
        expect(
          tool.name !== 'Bash' || e.action_details.command === tool.input.command,
          `${at}: action_details.command is ${JSON.stringify(e.action_details.command)}`,
        );
        expect(
          !(tool.name === 'Agent' || tool.name === 'Task') ||
            e.action_details.subagent_type === 'general-purpose',
          `${at}: action_details.subagent_type is ${JSON.stringify(e.action_details.subagent_type)}`,
        );
      }
      const p = post[0];
      if (p) expect(p.success === !tool.isError, `${label} / ${postHook}: success is ${p.success}`);
    }
    if (problems.length > 0) assert.fail(`${problems.length} mismatch(es):\n${problems.join('\n')}`);
  });

  check('outside_project_scope is true exactly for the calls that leave the project', (r) => {
    const evilFile = join(r.sb.evil, 'x.txt');
    const isOutside = (t: ExecutedTool) =>
      t.input.command === MARKERS.outsideBash ||
      t.input.file_path === OUTSIDE_READ_PATH ||
      t.input.file_path === evilFile;
    // Calls that name paths, all inside the project: the flag must be present and false.
    const insideCommands: string[] = [MARKERS.failing, MARKERS.relative, MARKERS.listSrc, MARKERS.mkdirBuild];
    const insideWithPaths = (t: ExecutedTool) =>
      typeof t.input.file_path === 'string' || insideCommands.includes(String(t.input.command));
    const outsideCalls = r.executed.filter(isOutside);
    assert.equal(outsideCalls.length, 3, `expected 3 outside calls to run, got ${outsideCalls.length}`);
    for (const tool of r.executed) {
      const label = `${tool.name} ${JSON.stringify(tool.input).slice(0, 120)}`;
      for (const e of eventsOf(r.events, tool).filter((x) => x.hook_event !== 'PermissionRequest')) {
        const flag = e.action_details.outside_project_scope;
        if (isOutside(tool))
          assert.equal(flag, true, `${label}: ${e.hook_event} must be outside_project_scope`);
        else if (insideWithPaths(tool))
          assert.equal(flag, false, `${label}: ${e.hook_event} is inside the project`);
        else assert.notEqual(flag, true, `${label}: ${e.hook_event} touches nothing outside the project`);
      }
    }
    const evil = r.events.find(
      (e) => e.hook_event === 'PreToolUse' && e.action_details.file_path === evilFile,
    );
    assert.ok(
      evil?.action_details.outside_paths?.includes(evilFile),
      `outside_paths of the sibling-dir write: ${JSON.stringify(evil?.action_details.outside_paths)}`,
    );
  });

  check("the subagent's tool calls carry the subagent's agent_id", (r) => {
    const start = r.events.find((e) => e.hook_event === 'SubagentStart');
    const stop = r.events.find((e) => e.hook_event === 'SubagentStop');
    assert.ok(start?.agent_id, `SubagentStart has no agent_id: ${JSON.stringify(start)}`);
    assert.equal(stop?.agent_id, start.agent_id, 'SubagentStop agent_id differs from SubagentStart');
    const subCalls = r.executed.filter((t) => t.parentToolUseId !== null);
    const subNames = subCalls.map((t) => t.name).sort();
    assert.deepEqual(subNames, ['Bash', 'Read'], `subagent tool calls that ran: ${subNames.join(', ')}`);
    for (const tool of subCalls) {
      for (const e of eventsOf(r.events, tool)) {
        assert.equal(e.agent_id, start.agent_id, `${tool.name} ${e.hook_event} of the subagent: agent_id`);
      }
    }
    for (const tool of r.executed.filter((t) => t.parentToolUseId === null)) {
      for (const e of eventsOf(r.events, tool)) {
        assert.equal(e.agent_id, undefined, `${tool.name} ${e.hook_event} of the main agent has an agent_id`);
      }
    }
  });

  check('claude-telemetry verify accepts the audit log', async (r) => {
    const v = await cli(r.sb, ['verify']);
    assert.equal(v.code, 0, `verify exited ${v.code}\n${v.stdout}\n${v.stderr}`);
  });

  check('no secret from the environment is stored anywhere in the data dir', (r) => {
    const needle = Buffer.from(MOCK_API_KEY);
    const hits = listFiles(r.sb.data).filter((f) => readFileSync(f).includes(needle));
    assert.deepEqual(hits, [], 'the API key was found in these files');
  });
});

/** Events of one tool call: by tool_use_id, or (events without one) by tool name and main input. */
function eventsOf(events: TelemetryEvent[], tool: ExecutedTool): TelemetryEvent[] {
  return events.filter((e) => {
    if (e.tool_use_id !== undefined) return e.tool_use_id === tool.id;
    if (e.tool_name !== tool.name) return false;
    const key = tool.input.file_path ?? tool.input.command;
    return key === undefined || key === e.action_details.file_path || key === e.action_details.command;
  });
}

function describeEvent(e: TelemetryEvent): string {
  return `${e.hook_event}${e.tool_name ? ` ${e.tool_name}` : ''} (${e.id})`;
}

function listFiles(dir: string, depth = 0): string[] {
  if (depth > 8) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push(...listFiles(p, depth + 1));
    else if (st?.isFile()) out.push(p);
  }
  return out;
}
