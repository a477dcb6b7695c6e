/**
 * End to end with a real Claude Code build: a session whose main agent launches two subagents, one in the
 * foreground and one in the background (Agent with run_in_background: true), captured by our hook and a real
 * collector that also receives Claude Code's own OTLP export (`connect --otel`).
 *
 * Checked: the tree (`tree <session> --json`) has the two subagents under the main agent with the ids Claude
 * Code gave them (the ids its API requests carried), each linked to the Agent call that launched it, with its
 * own tool counts; the token totals equal the usage the mock API reported, counted once although transcripts
 * and OTLP both report every request; and the api_request events arrived over OTLP and joined the session.
 *
 * Needs `bash scripts/install-claude-code.sh` and `npm run build` first (skips when Claude Code is not
 * installed). Set CT_E2E_KEEP=1 to keep the sandbox directory for inspection.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SessionTree, TreeNode } from '../../src/agents/fleet.ts';
import { readPidFile } from '../../src/collector/control.ts';
import type { CostReport } from '../../src/usage/report.ts';
import {
  CLAUDE_BIN,
  CLI_MAIN,
  claudeArgs,
  claudeEnv,
  claudeInstalled,
  closeSandbox,
  type ExecutedTool,
  executedTools,
  makeSandbox,
  parseStreamJson,
  REPO_ROOT,
  type RunResult,
  resultLine,
  run,
  type Sandbox,
  sleep,
} from './harness.ts';
import { type AgentState, type MockAnthropic, type Scenario, startMockAnthropic } from './mock-anthropic.ts';

const CLAUDE_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 40_000;
const CLI_TIMEOUT_MS = 20_000;
const SETUP_TIMEOUT_MS = 170_000;

const FG = { match: 'FOREGROUND-TASK', echo: 'echo from-foreground' };
const BG = { match: 'BACKGROUND-TASK', echo: 'echo from-background', echo2: 'echo background-again' };
const MAIN_ECHO = 'echo main-after-launch';

function scenario(project: string): Scenario {
  const bash = (command: string) => ({ name: 'Bash', input: { command, description: 'Print a marker' } });
  const agent = (description: string, task: string, background: boolean) => ({
    name: 'Agent',
    input: {
      description,
      prompt: `${task}: run the scripted steps.`,
      subagent_type: 'general-purpose',
      run_in_background: background,
    },
  });
  return {
    main: [
      { tools: [agent('Foreground check', FG.match, false)] },
      { tools: [agent('Background check', BG.match, true)] },
      { tools: [bash(MAIN_ECHO)] },
      { text: 'Both subagents launched; done.' },
    ],
    subagent: [{ text: 'Nothing to do.' }],
    subagents: [
      {
        match: FG.match,
        steps: [
          { tools: [bash(FG.echo)] },
          { tools: [{ name: 'Read', input: { file_path: join(project, 'README.md') } }] },
          { text: 'Foreground subagent finished.' },
        ],
      },
      {
        match: BG.match,
        steps: [
          { tools: [bash(BG.echo)] },
          { tools: [bash(BG.echo2)] },
          { text: 'Background subagent finished.' },
        ],
      },
    ],
  };
}

const skip =
  claudeInstalled() || process.env.CI
    ? false
    : `Claude Code is not installed at ${relative(REPO_ROOT, CLAUDE_BIN)}; run: bash scripts/install-claude-code.sh`;

interface Run {
  sb: Sandbox;
  sessionId: string;
  executed: ExecutedTool[];
  tree: SessionTree;
  cost: CostReport;
  /** The mock's per-agent figures for this session, keyed by agent id ('' = main, 'side' = no tools). */
  api: Map<string, AgentState>;
  otelRows: number;
}

describe('real Claude Code: two subagents (one in the background), tree and tokens', {
  skip,
  timeout: 185_000,
}, () => {
  let sb: Sandbox | undefined;
  let mock: MockAnthropic | undefined;
  let collectorPid: number | undefined;
  let result: Run | undefined;
  let failed = false;

  const cli = async (s: Sandbox, args: string[]): Promise<RunResult> => {
    const r = await run(process.execPath, [CLI_MAIN, ...args], {
      cwd: s.project,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: s.home,
        CLAUDE_TELEMETRY_HOME: s.data,
        LANG: 'C.UTF-8',
      },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    writeFileSync(
      join(s.logs, `cli-${args[0]}-${Date.now()}.log`),
      `$ claude-telemetry ${args.join(' ')}\nexit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n`,
    );
    return r;
  };
  const cliJson = async <T>(s: Sandbox, args: string[]): Promise<T> => {
    const r = await cli(s, args);
    assert.equal(r.code, 0, `claude-telemetry ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  before(
    async () => {
      failed = true;
      assert.ok(existsSync(CLI_MAIN), `${relative(REPO_ROOT, CLI_MAIN)} is missing; run: npm run build`);
      sb = makeSandbox('ct-e2e-subagents-');
      const s = sb;
      // The API on a free port, found by connect --otel from the running collector.
      assert.equal((await cli(s, ['setup'])).code, 0, 'setup');
      writeFileSync(join(s.data, 'config.yaml'), 'server: {port: 0}\ndashboard: {port: 0}\n');
      assert.equal((await cli(s, ['start'])).code, 0, 'start');
      collectorPid = readPidFile(join(s.data, 'run', 'collector.pid'));
      assert.ok(collectorPid, 'no collector pid');
      let st: { api?: string } = {};
      for (let i = 0; i < 40 && !st.api; i++) {
        st = await cliJson<{ api?: string }>(s, ['status', '--json']);
        if (!st.api) await sleep(250);
      }
      assert.ok(st.api, 'the collector serves no API');
      assert.equal((await cli(s, ['connect', '--otel'])).code, 0, 'connect --otel');
      // In the user settings: Claude Code ignores OTLP exporter settings in project files.
      const env = JSON.parse(readFileSync(join(s.home, '.claude', 'settings.json'), 'utf8')).env ?? {};
      assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, st.api, 'connect --otel points at the running API');

      mock = await startMockAnthropic({
        scenario: scenario(s.project),
        logFile: join(s.logs, 'mock-requests.jsonl'),
      });
      const claude = await run(CLAUDE_BIN, claudeArgs('Launch the two checks, please.'), {
        cwd: s.project,
        env: claudeEnv(s, mock.url),
        timeoutMs: CLAUDE_TIMEOUT_MS,
      });
      writeFileSync(join(s.logs, 'stream.jsonl'), claude.stdout);
      writeFileSync(join(s.logs, 'claude.stderr'), claude.stderr);
      assert.ok(!claude.timedOut, `claude did not finish within ${CLAUDE_TIMEOUT_MS} ms (logs: ${s.logs})`);
      assert.equal(claude.code, 0, `claude exited ${claude.code}: ${claude.stderr.slice(0, 2000)}`);
      const lines = parseStreamJson(claude.stdout);
      const sessionId = String(resultLine(lines)?.session_id ?? '');
      assert.ok(sessionId, 'no session id in the stream-json result');

      const api = new Map<string, AgentState>();
      for (const [key, v] of Object.entries(mock.agents())) {
        const cut = key.lastIndexOf('/');
        if (key.slice(0, cut) !== sessionId) continue;
        const id = key.slice(cut + 1);
        api.set(id === 'main' ? '' : id, v);
      }
      const requests = [...api.entries()]
        .filter(([k]) => k !== 'side')
        .reduce((a, [, v]) => a + v.requests, 0);

      // Settled: hooks ingested, both transcripts followed and the OTLP export received, for every request.
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      let cost: CostReport | undefined;
      let tree: SessionTree | undefined;
      while (Date.now() < deadline) {
        cost = await cliJson<CostReport>(s, ['cost', '--session', sessionId, '--json']);
        const t = cost.total.sources;
        if ((t?.transcript?.messages ?? 0) >= requests && (t?.otel?.messages ?? 0) >= requests) {
          tree = await cliJson<SessionTree>(s, ['tree', sessionId, '--json']);
          const events = tree.root.events + tree.root.children.reduce((a, c) => a + c.events, 0);
          if (tree.agents >= 3 && events > 0 && tree.root.children.every((c) => c.outcome !== 'running'))
            break;
        }
        await sleep(500);
      }
      assert.ok(cost && tree, `the session did not settle within ${SETTLE_TIMEOUT_MS} ms (logs: ${s.logs})`);
      writeFileSync(join(s.logs, 'tree.json'), JSON.stringify(tree, null, 2));
      writeFileSync(join(s.logs, 'cost.json'), JSON.stringify(cost, null, 2));
      result = {
        sb: s,
        sessionId,
        executed: executedTools(lines),
        tree,
        cost,
        api,
        otelRows: cost.total.sources?.otel?.messages ?? 0,
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

  const check = (name: string, fn: (r: Run) => void) =>
    it(name, () => {
      try {
        assert.ok(result, 'the session did not run (see the before hook failure)');
        fn(result);
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  /** The subagent ids Claude Code used (its API requests carry them), by the script each followed. */
  const subagentIds = (r: Run) => [...r.api.keys()].filter((k) => k !== '' && k !== 'side');
  const child = (r: Run, echo: string): TreeNode => {
    const call = r.executed.find((t) => t.name === 'Bash' && t.input.command === echo);
    assert.ok(call?.parentToolUseId, `the subagent's Bash call "${echo}" did not run`);
    const n = r.tree.root.children.find((c) => c.delegation?.tool_use_id === call.parentToolUseId);
    assert.ok(n, `no tree node launched by ${call.parentToolUseId}: ${JSON.stringify(r.tree.root.children)}`);
    return n;
  };

  check('the tree: two subagents under the main agent, with the ids Claude Code used', (r) => {
    assert.equal(r.tree.session_id, r.sessionId);
    assert.equal(r.tree.agents, 3);
    const ids = subagentIds(r).sort();
    assert.equal(ids.length, 2, `the mock saw subagents ${ids.join(', ')}`);
    assert.deepEqual(r.tree.root.children.map((c) => c.agent_id).sort(), ids);
    for (const c of r.tree.root.children) {
      assert.equal(c.children.length, 0);
      assert.equal(c.agent_type, 'general-purpose');
    }
  });

  check(
    'delegation links: each subagent hangs on the Agent call that launched it; one in the background',
    (r) => {
      const launches = r.executed.filter((t) => t.name === 'Agent' || t.name === 'Task');
      assert.equal(launches.length, 2);
      const fg = child(r, FG.echo);
      const bg = child(r, BG.echo);
      assert.notEqual(fg.agent_id, bg.agent_id);
      for (const [n, call] of [
        [fg, launches.find((l) => l.input.run_in_background === false)],
        [bg, launches.find((l) => l.input.run_in_background === true)],
      ] as const) {
        assert.equal(n.delegation?.tool_use_id, call?.id);
        assert.equal(n.delegation?.delegated_from, '');
      }
      assert.equal(bg.delegation?.background, true);
      assert.equal(fg.delegation?.description, 'Foreground check');
      assert.equal(bg.delegation?.description, 'Background check');
      assert.equal(fg.outcome, 'completed');
      // Claude Code fires the background subagent's SubagentStop after the launch's PostToolUse
      // (subagent_status async_launched); the tree keeps async_launched for it today.
      assert.ok(['completed', 'async_launched'].includes(bg.outcome), `background outcome ${bg.outcome}`);
    },
  );

  check('tool counts per agent', (r) => {
    assert.deepEqual(child(r, FG.echo).tools, { Bash: 1, Read: 1 });
    assert.deepEqual(child(r, BG.echo).tools, { Bash: 2 });
    const main = r.tree.root.tools;
    assert.equal((main.Agent ?? 0) + (main.Task ?? 0), 2);
    assert.equal(main.Bash, 1);
  });

  check('tokens: every agent and the total equal what the API reported, counted once', (r) => {
    const nodes = [r.tree.root, ...r.tree.root.children];
    for (const n of nodes) {
      const a = r.api.get(n.agent_id);
      assert.ok(a, `the mock saw no requests of agent "${n.agent_id}"`);
      assert.equal(n.usage.messages, a.requests, `requests of agent "${n.agent_id || 'main'}"`);
      assert.equal(n.usage.input, a.input, `input tokens of agent "${n.agent_id || 'main'}"`);
      assert.equal(n.usage.output, a.output, `output tokens of agent "${n.agent_id || 'main'}"`);
      assert.equal(n.usage.source, 'both');
    }
    const side = r.api.get('side');
    const want = [...r.api.entries()].filter(([k]) => k !== 'side');
    const sum = (f: (v: AgentState) => number) => want.reduce((a, [, v]) => a + f(v), 0);
    assert.equal(r.tree.total.input, sum((v) => v.input) + (side?.input ?? 0));
    assert.equal(r.tree.total.output, sum((v) => v.output) + (side?.output ?? 0));
    assert.equal(r.cost.total.input, r.tree.total.input);
    assert.equal(r.cost.total.messages, sum((v) => v.requests) + (side?.requests ?? 0));
  });

  check(
    "Claude Code's OTLP export arrived and joined the session: each source's totals equal the API's",
    (r) => {
      assert.equal(r.cost.source, 'both');
      const t = r.cost.total.sources;
      assert.ok(t?.transcript && t.otel);
      assert.equal(t.otel.input, t.transcript.input);
      assert.equal(t.otel.output, t.transcript.output);
      assert.equal(t.otel.messages, t.transcript.messages);
      assert.equal(
        r.cost.total.messages,
        t.transcript.messages,
        'a request seen by both sources counts once',
      );
      assert.ok((t.otel.reported_cost_usd ?? 0) > 0, 'Claude Code reported a cost');
      assert.ok(r.otelRows > 0);
      const row = r.cost.rows.find((x) => x.key === r.sessionId);
      assert.ok(row, 'the OTLP figures are under the hook session id');
    },
  );
});
