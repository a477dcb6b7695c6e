import { readFileSync, rmSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { installHook } from '../src/capture/install.ts';
import * as spool from '../src/capture/spool.ts';
import { type Action, actionRank, loadRuleSet } from '../src/detect/engine/ruleset.ts';
import { TEST_CWD, TEST_HOME } from '../src/detect/engine/testing.ts';
import { DetectionEngine, type Mode } from '../src/detect/engine.ts';
import { guardDecision } from '../src/detect/guard.ts';
import { IngestDetection } from '../src/detect/ingest.ts';
import { loadBashParser } from '../src/detect/shell/grammar.ts';
import { SessionState } from '../src/detect/state.ts';
import { normalize } from '../src/ingest/index.ts';
import { benchNormalizeContext, round, stats, tempHome, writeSpool } from './util.ts';

interface Case {
  event?: string;
  tool?: string;
  input: Record<string, unknown>;
  response?: unknown;
  rules?: string[];
  modes?: Mode[];
  tainted?: boolean;
}

const corpus = (name: string): Case[] =>
  parseYaml(readFileSync(new URL(`../test/fixtures/security/${name}`, import.meta.url), 'utf8')) as Case[];

const payloadOf = (c: Case, session: string) => ({
  hook_event_name: c.event ?? 'PreToolUse',
  tool_name: c.tool ?? 'Bash',
  tool_input: c.input,
  ...(c.response !== undefined ? { tool_response: c.response } : {}),
  session_id: session,
  cwd: TEST_CWD,
});

/**
 * Security engine figures: catch rate on the attack corpus (with the expected rule), false positives on
 * the benign corpus (anything at alert or stricter), guard decision latency warm (cached and uncached),
 * a 200 KB command, and the detection cost per ingested event on the ingest benchmark's payloads.
 */
export async function runDetectBench() {
  await loadBashParser();
  const set = loadRuleSet();
  const fresh = () =>
    new DetectionEngine({
      ruleSet: set,
      home: TEST_HOME,
      state: new SessionState(),
      realOf: (p) => p,
      tempRoots: ['/tmp'],
    });

  let caught = 0;
  let attackRuns = 0;
  const missed: string[] = [];
  for (const c of corpus('attack.yaml')) {
    for (const mode of c.modes ?? (['standard', 'strict'] as Mode[])) {
      const engine = fresh();
      if (c.tainted) engine.state.taint('bench', 'CT-PI-001');
      const r = guardDecision(payloadOf(c, 'bench'), { engine, mode });
      attackRuns++;
      const ids = r.verdict?.detections.map((d) => d.rule) ?? [];
      if (c.rules?.some((x) => ids.includes(x))) caught++;
      else missed.push(`${mode}: ${JSON.stringify(c.input).slice(0, 80)}`);
    }
  }
  let benignRuns = 0;
  const falsePositives: string[] = [];
  for (const c of corpus('benign.yaml')) {
    for (const mode of c.modes ?? (['standard', 'strict'] as Mode[])) {
      const r = guardDecision(payloadOf(c, 'bench'), { engine: fresh(), mode });
      benignRuns++;
      const loud =
        r.verdict?.detections.filter((d) => actionRank(d.action as Action) >= actionRank('alert')) ?? [];
      if (r.decision !== 'allow' || loud.length > 0)
        falsePositives.push(`${mode}: ${JSON.stringify(c.input).slice(0, 80)}`);
    }
  }

  // Decision latency in a warm process: every corpus payload, 5 rounds; the first round is warm-up.
  const all = [...corpus('attack.yaml'), ...corpus('benign.yaml'), ...corpus('ask.yaml')].filter(
    (c) => !c.tainted,
  );
  const engine = fresh();
  const cached: number[] = [];
  const uncached: number[] = [];
  for (let round = 0; round < 5; round++) {
    for (const c of all) {
      const body = Buffer.from(JSON.stringify(payloadOf(c, `s${round}`)));
      if (round % 2 === 1) engine.clearCaches();
      const t = performance.now();
      guardDecision(body, { engine });
      const ms = performance.now() - t;
      if (round === 0) continue;
      (round % 2 === 1 ? uncached : cached).push(ms);
    }
  }
  const big = `echo ${'lorem ipsum dolor sit amet '.repeat(7600)}; rm -rf ~`;
  const bigTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    engine.clearCaches();
    const t = performance.now();
    const r = guardDecision(payloadOf({ input: { command: big } }, 'big'), { engine });
    bigTimes.push(performance.now() - t);
    if (r.decision !== 'deny') throw new Error('the 200 KB command lost its tail');
  }

  return {
    rules: set.rules.length,
    attack: { runs: attackRuns, caught, catchRatePct: round((caught / attackRuns) * 100, 1), missed },
    benign: { runs: benignRuns, falsePositives: falsePositives.length, cases: falsePositives },
    decisionMs: {
      uncached: stats(uncached),
      cached: stats(cached),
    },
    command200KbMs: { chars: big.length, ...stats(bigTimes) },
    ingestDetectUsPerEvent: await ingestCost(),
  };
}

/** Detection cost per event on the ingest benchmark's payloads (normalize excluded). */
async function ingestCost(n = 10_000): Promise<number> {
  const paths = tempHome('detect');
  try {
    installHook(paths);
    writeSpool(paths, n);
    const recs = spool.sortRecords(spool.listReady(paths).map((name) => spool.readRecord(paths, name)));
    const ctx = benchNormalizeContext();
    const events = recs.map((r) => normalize(r, ctx));
    const detection = new IngestDetection(paths.home);
    await detection.ready();
    const t = performance.now();
    for (let i = 0; i < events.length; i++) detection.apply(events[i] as never, recs[i] as never);
    return round(((performance.now() - t) * 1000) / events.length, 1);
  } finally {
    rmSync(paths.home, { recursive: true, force: true });
  }
}
