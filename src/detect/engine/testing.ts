/**
 * Runs the inline `tests.match` / `tests.no_match` of every rule: each case is evaluated by the whole
 * engine (so interactions between rules are exercised) in a fixed home and project, with a fresh
 * session state; a `match` case must produce a hit of its rule, a `no_match` case must not.
 */
import { DetectionEngine, type Mode } from '../engine.ts';
import type { DetectRequest } from '../input.ts';
import type { BashParser } from '../shell/grammar.ts';
import { SessionState } from '../state.ts';
import type { RuleSet, RuleTestCase } from './ruleset.ts';

/** Home and project every inline test runs in. */
export const TEST_HOME = '/home/u';
export const TEST_CWD = '/home/u/proj';

export interface RuleTestFailure {
  rule: string;
  kind: 'match' | 'no_match';
  index: number;
  case: RuleTestCase;
  got: string[];
}

export interface RuleTestReport {
  rules: number;
  cases: number;
  failures: RuleTestFailure[];
}

export function requestOfTest(c: RuleTestCase, defaultEvent: string): DetectRequest {
  const event = c.event ?? defaultEvent;
  const response = c.response;
  return {
    event,
    tool: c.tool,
    input: c.input,
    sessionId: 'rule-test',
    cwd: c.cwd ?? TEST_CWD,
    projectRoot: TEST_CWD,
    permissionMode: c.permission_mode ?? 'default',
    content: () => {
      if (event === 'PostToolUse')
        return typeof response === 'string' ? response : JSON.stringify(response ?? '');
      if (event === 'UserPromptSubmit') return String(c.input.prompt ?? '');
      return String(c.input.content ?? c.input.new_string ?? '');
    },
  };
}

/** Evaluates one inline test case; returns the rule ids hit. */
export function runTestCase(
  set: RuleSet,
  c: RuleTestCase,
  defaultEvent: string,
  parser?: BashParser | null,
): string[] {
  const state = new SessionState();
  const engine = new DetectionEngine({
    ruleSet: set,
    home: TEST_HOME,
    state,
    parser,
    realOf: (p) => p,
    tempRoots: ['/tmp', '/var/tmp'],
  });
  if (c.tainted) state.taint('rule-test', 'test');
  const mode: Mode = c.mode ?? 'standard';
  return engine.evaluate(requestOfTest(c, defaultEvent), mode).detections.map((d) => d.rule);
}

export function runRuleTests(
  set: RuleSet,
  only?: (id: string) => boolean,
  parser?: BashParser | null,
): RuleTestReport {
  const report: RuleTestReport = { rules: 0, cases: 0, failures: [] };
  for (const rule of set.rules) {
    if (only && !only(rule.id)) continue;
    const tests = rule.def.tests;
    if (!tests) continue;
    report.rules++;
    const ev = rule.def.events[0] ?? 'PreToolUse';
    for (const kind of ['match', 'no_match'] as const) {
      tests[kind].forEach((c, index) => {
        report.cases++;
        const got = runTestCase(set, c, ev, parser);
        const hit = got.includes(rule.id);
        if (hit !== (kind === 'match')) report.failures.push({ rule: rule.id, kind, index, case: c, got });
      });
    }
  }
  return report;
}
