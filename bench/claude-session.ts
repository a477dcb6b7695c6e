/**
 * What our hooks add to a real Claude Code session: the same scripted session (about 20 tool calls,
 * one subagent, answered by the local mock API) runs with the product connected and without it, and a
 * third time with the same hook registrations pointing at a no-op command (the floor any hook pays).
 * Runs are interleaved so every condition sees the same machine state. Reports the medians, the added
 * milliseconds per session and per hook call.
 *
 * The collector runs for the whole benchmark (idle when no hooks fire), so the "with" condition
 * includes its ingest work happening alongside the session, as a user would have it.
 *
 * Needs `bash scripts/install-claude-code.sh`. Uses dist/cli/main.js when built, else the sources.
 *   node --import tsx bench/claude-session.ts [--runs 5]
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isAlive, readPidFile as readPid } from '../src/collector/control.ts';
import {
  ALLOWED_TOOLS,
  CLAUDE_BIN,
  CLI_MAIN,
  claudeArgs,
  claudeEnv,
  executedTools,
  makeSandbox,
  parseStreamJson,
  REPO_ROOT,
  type RunResult,
  run,
  type Sandbox,
  sleep,
} from '../test/e2e/harness.ts';
import { fullScenario, startMockAnthropic } from '../test/e2e/mock-anthropic.ts';
import { median } from './util.ts';

const SESSION_TIMEOUT_MS = 90_000;

/** with = product connected; without = no hooks; noop = the same hooks running a no-op command. */
const CONDITIONS = ['without', 'with', 'noop'] as const;
type Condition = (typeof CONDITIONS)[number];
const CLI_TIMEOUT_MS = 30_000;

export interface ClaudeSessionBenchOptions {
  /** Measured runs per condition (default 5). One extra warm-up run per condition is not counted. */
  runs?: number;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function cliInvocation(): { cmd: string; pre: string[]; entry: string } {
  if (existsSync(CLI_MAIN)) return { cmd: process.execPath, pre: [], entry: CLI_MAIN };
  return { cmd: process.execPath, pre: ['--import', 'tsx'], entry: join(REPO_ROOT, 'src', 'cli', 'main.ts') };
}

export async function runClaudeSessionBench(options: ClaudeSessionBenchOptions = {}): Promise<object> {
  const runs = options.runs ?? 5;
  if (!existsSync(CLAUDE_BIN)) {
    return { skipped: `Claude Code is not installed; run: bash scripts/install-claude-code.sh` };
  }
  const sb = makeSandbox('ct-bench-session-');
  const cliSpec = cliInvocation();
  const cliEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: sb.home,
    CLAUDE_TELEMETRY_HOME: sb.data,
  };
  const cli = async (args: string[], cwd = sb.root): Promise<RunResult> => {
    const r = await run(cliSpec.cmd, [...cliSpec.pre, cliSpec.entry, ...args], {
      cwd,
      env: cliEnv,
      timeoutMs: CLI_TIMEOUT_MS,
    });
    if (r.code !== 0) {
      throw new Error(
        `claude-telemetry ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
      );
    }
    return r;
  };
  const storedEvents = async (): Promise<number> => {
    const deadline = Date.now() + 30_000;
    let last = -1;
    while (Date.now() < deadline) {
      const st = JSON.parse((await cli(['status', '--json'])).stdout) as {
        spoolBacklog?: number;
        eventsStored?: number;
      };
      const n = st.eventsStored ?? 0;
      if (st.spoolBacklog === 0 && n === last) return n;
      last = n;
      await sleep(200);
    }
    throw new Error('the collector did not drain the spool within 30 s');
  };

  let collectorPid: number | undefined;
  const samples: Record<Condition, number[]> = { with: [], without: [], noop: [] };
  const hookCalls: number[] = [];
  const toolCalls: number[] = [];
  try {
    await cli(['setup']);
    await cli(['start']);
    collectorPid = readPid(join(sb.data, 'run', 'collector.pid'));
    let n = 0;
    // Interleaved: a warm-up round first (not counted), then `runs` rounds, rotating which goes first.
    for (let i = 0; i <= runs; i++) {
      const order = CONDITIONS.map((_, k) => CONDITIONS[(i + k) % CONDITIONS.length] as Condition);
      for (const cond of order) {
        n += 1;
        const project = freshProject(sb, `p${n}-${cond}`);
        if (cond !== 'without') await cli(['connect'], project);
        if (cond === 'noop') replaceHookCommands(project, 'cat >/dev/null');
        const before = cond === 'with' ? await storedEvents() : 0;
        const m = await startMockAnthropic({ scenario: fullScenario(project) });
        let r: RunResult;
        try {
          r = await run(CLAUDE_BIN, claudeArgs('Walk through the scripted steps, please.'), {
            cwd: project,
            env: claudeEnv({ ...sb, project, evil: `${project}-evil` }, m.url),
            timeoutMs: SESSION_TIMEOUT_MS,
          });
        } finally {
          await m.close();
        }
        if (r.code !== 0 || r.timedOut) {
          throw new Error(
            `claude run ${n} (${cond}) failed: exit ${r.code}, timed out ${r.timedOut}: ${r.stderr}`,
          );
        }
        const executed = executedTools(parseStreamJson(r.stdout)).length;
        if (i === 0) continue;
        samples[cond].push(r.durationMs);
        toolCalls.push(executed);
        if (cond === 'with') hookCalls.push((await storedEvents()) - before);
      }
    }
  } finally {
    await cli(['stop']).catch(() => undefined);
    if (collectorPid !== undefined && isAlive(collectorPid)) process.kill(collectorPid, 'SIGKILL');
    rmSync(sb.root, { recursive: true, force: true });
  }

  const withMs = median(samples.with);
  const withoutMs = median(samples.without);
  const noopMs = median(samples.noop);
  const hooksPerSession = median(hookCalls);
  const added = withMs - withoutMs;
  const perHook = (ms: number) => (hooksPerSession > 0 ? round(ms / hooksPerSession, 2) : null);
  const cond = (xs: number[]) => ({ medianMs: round(median(xs)), samplesMs: xs.map((x) => round(x)) });
  return {
    claudeCodeVersion: readClaudeVersion(),
    runsPerCondition: runs,
    toolCallsPerSession: median(toolCalls),
    hookCallsPerSession: hooksPerSession,
    withHooks: cond(samples.with),
    withoutHooks: cond(samples.without),
    addedMsPerSession: round(added),
    addedPercent: round((added / withoutMs) * 100),
    addedMsPerHookCall: perHook(added),
    // Same hook registrations, each running `cat >/dev/null`: what Claude Code's hook machinery costs
    // by itself (spawning a shell per hook), so the rest is what our hook adds on top of any hook.
    noopHooks: cond(samples.noop),
    hookMachineryMsPerHookCall: perHook(noopMs - withoutMs),
    ourHookMsPerHookCall: perHook(withMs - noopMs),
  };
}

/** Points every registered hook of the project at `command` (keeps events, matchers and timeouts). */
function replaceHookCommands(project: string, command: string): void {
  const file = join(project, '.claude', 'settings.json');
  const settings = JSON.parse(readFileSync(file, 'utf8')) as {
    hooks?: Record<string, { hooks?: { command?: string }[] }[]>;
  };
  for (const groups of Object.values(settings.hooks ?? {})) {
    for (const g of groups) for (const h of g.hooks ?? []) h.command = command;
  }
  writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`);
}

/** A new project under the sandbox, trusted, with the scenario's tools pre-approved. */
function freshProject(sb: Sandbox, name: string): string {
  const project = join(sb.root, name);
  mkdirSync(join(project, '.claude'), { recursive: true });
  writeFileSync(
    join(project, '.claude', 'settings.json'),
    `${JSON.stringify({ permissions: { allow: ALLOWED_TOOLS } }, null, 2)}\n`,
  );
  const cfgFile = join(sb.home, '.claude.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as { projects?: Record<string, unknown> };
  cfg.projects = { ...(cfg.projects ?? {}), [project]: { hasTrustDialogAccepted: true } };
  writeFileSync(cfgFile, `${JSON.stringify(cfg, null, 2)}\n`);
  return project;
}

function readClaudeVersion(): string | undefined {
  try {
    const pkg = join(
      REPO_ROOT,
      '.e2e',
      'claude-code',
      'node_modules',
      '@anthropic-ai',
      'claude-code',
      'package.json',
    );
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  runClaudeSessionBench({ runs: values.runs ? Number(values.runs) : 5 }).then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (err) => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
