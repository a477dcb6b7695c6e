import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Action, actionRank, loadRuleSet, type RuleSet } from '../../src/detect/engine/ruleset.ts';
import { TEST_CWD, TEST_HOME } from '../../src/detect/engine/testing.ts';
import { DetectionEngine, type Mode, type Verdict } from '../../src/detect/engine.ts';
import { guardDecision } from '../../src/detect/guard.ts';
import { loadBashParser } from '../../src/detect/shell/grammar.ts';
import { SessionState } from '../../src/detect/state.ts';

interface Case {
  name?: string;
  event?: string;
  tool?: string;
  input: Record<string, unknown>;
  response?: unknown;
  rules?: string[];
  decision?: 'allow' | 'ask' | 'deny';
  modes?: Mode[];
  tainted?: boolean;
  standard?: 'allow' | 'ask' | 'deny';
  strict?: 'allow' | 'ask' | 'deny';
}

const load = (name: string): Case[] =>
  parseYaml(readFileSync(new URL(`../fixtures/security/${name}`, import.meta.url), 'utf8')) as Case[];
const RANK = { allow: 0, ask: 1, deny: 2 } as const;

let set: RuleSet;
before(async () => {
  await loadBashParser();
  set = loadRuleSet();
});

function judge(c: Case, mode: Mode): Verdict {
  const state = new SessionState();
  const engine = new DetectionEngine({
    ruleSet: set,
    home: TEST_HOME,
    state,
    realOf: (p) => p,
    tempRoots: ['/tmp'],
  });
  if (c.tainted) state.taint('corpus', 'CT-PI-001');
  const event = c.event ?? 'PreToolUse';
  return engine.evaluate(
    {
      event,
      tool: c.tool ?? 'Bash',
      input: c.input,
      sessionId: 'corpus',
      cwd: TEST_CWD,
      projectRoot: TEST_CWD,
      content: () => (typeof c.response === 'string' ? c.response : JSON.stringify(c.response ?? '')),
    },
    mode,
  );
}

const label = (c: Case) => c.name ?? JSON.stringify(c.input).slice(0, 100);
const flagged = (v: Verdict) =>
  v.detections.filter((d) => actionRank(d.action as Action) >= actionRank('alert'));

describe('attack corpus: caught by the expected rule, at least the expected decision', () => {
  for (const c of load('attack.yaml')) {
    for (const mode of c.modes ?? (['standard', 'strict'] as Mode[])) {
      test(`${label(c)} [${mode}]`, () => {
        const v = judge(c, mode);
        const ids = v.detections.map((d) => d.rule);
        assert.ok(
          c.rules?.some((r) => ids.includes(r)),
          `expected one of ${c.rules} in ${ids}`,
        );
        assert.ok(RANK[v.decision] >= RANK[c.decision ?? 'allow'], `decision ${v.decision} < ${c.decision}`);
      });
    }
  }
});

describe('benign corpus: allowed, no alert', () => {
  for (const c of load('benign.yaml')) {
    for (const mode of c.modes ?? (['standard', 'strict'] as Mode[])) {
      test(`${label(c)} [${mode}]`, () => {
        const v = judge(c, mode);
        assert.equal(v.decision, 'allow', JSON.stringify(v.detections));
        assert.deepEqual(
          flagged(v).map((d) => d.rule),
          [],
        );
      });
    }
  }
});

describe('ask corpus: confirmation, not deny, not silent', () => {
  for (const c of load('ask.yaml')) {
    test(label(c), () => {
      const std = judge(c, 'standard');
      assert.ok(
        c.rules?.some((r) => std.detections.some((d) => d.rule === r)),
        JSON.stringify(std.detections),
      );
      assert.equal(std.decision, c.standard ?? 'ask');
      assert.equal(judge(c, 'strict').decision, c.strict ?? 'ask');
    });
  }
});

// ---- metamorphic variants ----------------------------------------------------------------------------

const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Semantics-preserving rewrites of a shell command (each returns null when it does not apply). */
const VARIANTS: Record<string, (cmd: string) => string | null> = {
  'quote splice': (c) => firstWord(c, (w) => `${w[0]}''${w.slice(1)}`),
  'backslash escape': (c) => firstWord(c, (w) => `\\${w[0]}${w.slice(1)}`),
  'ansi-c argv0': (c) =>
    firstWord(
      c,
      (w) => `$'${[...w].map((ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}'`,
    ),
  'command prefix': (c) => simpleStart(c, 'command '),
  'env prefix': (c) => simpleStart(c, 'env '),
  'timeout prefix': (c) => simpleStart(c, 'timeout 9 '),
  'nohup prefix': (c) => simpleStart(c, 'nohup '),
  'sudo prefix': (c) => simpleStart(c, 'sudo '),
  'bash -c': (c) => `bash -c ${sq(c)}`,
  'sh -c in bash -c': (c) => `bash -c ${sq(`sh -c ${sq(c)}`)}`,
  'flag reorder': (c) => {
    const m = /^(\S+ )-([a-zA-Z]{2,})( |$)/.exec(c);
    return m ? `${m[1]}-${[...(m[2] as string)].reverse().join('')}${m[3]}${c.slice(m[0].length)}` : null;
  },
  'flag split': (c) => {
    const m = /^(rm|chmod|cp) -([a-zA-Z]{2,})( |$)/.exec(c);
    return m
      ? `${m[1]} ${[...(m[2] as string)].map((f) => `-${f}`).join(' ')}${m[3]}${c.slice(m[0].length)}`
      : null;
  },
  'semicolon prefix': (c) => `true; ${c}`,
  'and prefix': (c) => `cd . && ${c}`,
  'newline prefix': (c) => `echo start\n${c}`,
  'base64 wrapping': (c) => `echo ${Buffer.from(c).toString('base64')} | base64 -d | sh`,
};

function firstWord(c: string, f: (w: string) => string): string | null {
  const m = /^([a-z][a-z0-9_-]{1,})( |$)/.exec(c);
  return m ? f(m[1] as string) + c.slice((m[1] as string).length) : null;
}

function simpleStart(c: string, prefix: string): string | null {
  return /^[a-z/][a-z0-9._/-]*( |$)/.test(c) ? prefix + c : null;
}

describe('metamorphic: variants of every must-deny command are never weaker', () => {
  const seeds = load('attack.yaml').filter(
    (c) =>
      (c.tool ?? 'Bash') === 'Bash' &&
      c.decision === 'deny' &&
      !c.tainted &&
      (c.modes ?? ['standard']).includes('standard'),
  );
  let total = 0;
  for (const c of seeds) {
    const cmd = c.input.command as string;
    for (const [name, make] of Object.entries(VARIANTS)) {
      const variant = make(cmd);
      if (variant === null) continue;
      total++;
      test(`${label(c)} / ${name}`, () => {
        const v = judge({ ...c, input: { command: variant } }, 'standard');
        assert.equal(
          v.decision,
          'deny',
          `${JSON.stringify(variant)} -> ${v.decision} ${v.detections.map((d) => d.rule)}`,
        );
      });
    }
  }
  test('enough variants were generated', () => assert.ok(total > 300, `${total} variants`));
});

// ---- robustness ----------------------------------------------------------------------------------

describe('robustness: bounded time, no crash, strict denies', () => {
  const timed = (c: Case, mode: Mode) => {
    const t = performance.now();
    const v = judge(c, mode);
    return { v, ms: performance.now() - t };
  };

  test('a 200 KB command', () => {
    const cmd = `echo ${'lorem ipsum dolor sit amet '.repeat(7600)}`;
    assert.ok(cmd.length > 200_000);
    const std = timed({ input: { command: cmd } }, 'standard');
    assert.ok(std.ms < 1000, `${std.ms} ms`);
    assert.equal(judge({ input: { command: cmd } }, 'strict').decision, 'deny');
    const hidden = `${cmd}; rm -rf ~`;
    assert.equal(
      judge({ input: { command: hidden } }, 'standard').decision,
      'deny',
      'the tail of a huge command is still read',
    );
  });

  test('64-deep command substitution and 20-deep bash -c nesting', () => {
    let sub = 'rm -rf ~';
    for (let i = 0; i < 64; i++) sub = `echo $(${sub})`;
    const a = timed({ input: { command: sub } }, 'standard');
    assert.ok(a.ms < 2000, `${a.ms} ms`);
    assert.equal(a.v.decision, 'deny');
    let nest = 'rm -rf ~/x';
    for (let i = 0; i < 20; i++) nest = `bash -c ${JSON.stringify(nest)}`;
    const b = timed({ input: { command: nest } }, 'strict');
    assert.ok(b.ms < 2000, `${b.ms} ms`);
    assert.equal(b.v.decision, 'deny');
    assert.ok(b.v.detections.some((d) => d.rule === 'CT-ENGINE-002'));
  });

  test('pathological regex input against every rule', () => {
    const evil = `${'a'.repeat(50_000)}!`;
    for (const c of [
      { input: { command: evil } },
      { input: { command: `cat ${evil}` } },
      { event: 'PostToolUse', tool: 'WebFetch', input: { url: 'https://x.example' }, response: evil },
      {
        event: 'PostToolUse',
        tool: 'Read',
        input: { file_path: 'a' },
        response: `${'ignore '.repeat(20_000)}x`,
      },
      { tool: 'Write', input: { file_path: 'a.txt', content: `${'A'.repeat(60_000)}=` } },
    ] as Case[]) {
      const r = timed(c, 'standard');
      assert.ok(r.ms < 1500, `${r.ms} ms for ${JSON.stringify(c).slice(0, 60)}`);
    }
  });

  test('NUL bytes: strict denies', () => {
    assert.equal(judge({ input: { command: 'ls\u0000; cat ~/.ssh/id_rsa' } }, 'standard').decision, 'deny');
    assert.equal(judge({ input: { command: 'echo a\u0000b' } }, 'strict').decision, 'deny');
  });

  const engine = () =>
    new DetectionEngine({ ruleSet: set, home: TEST_HOME, state: new SessionState(), realOf: (p) => p });
  const payload = (command: string) =>
    Buffer.from(
      JSON.stringify({
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_input: { command },
        session_id: 's',
        cwd: TEST_CWD,
      }),
    );

  test('invalid UTF-8, malformed JSON, missing input: no crash; strict and fail-closed deny', () => {
    const bad = Buffer.concat([
      payload('ls').subarray(0, 60),
      Buffer.from([0xff, 0xfe]),
      payload('ls').subarray(60),
    ]);
    assert.equal(guardDecision(bad, { engine: engine(), mode: 'strict' }).decision, 'deny');
    assert.equal(guardDecision(Buffer.from('{"hook_event_name":'), { engine: engine() }).decision, 'allow');
    assert.equal(
      guardDecision(Buffer.from('{"hook_event_name":'), { engine: engine(), failClosed: true }).decision,
      'deny',
    );
    assert.equal(guardDecision(Buffer.from('[1,2]'), { engine: engine(), mode: 'strict' }).decision, 'deny');
    const none = guardDecision(
      { hook_event_name: 'PreToolUse', tool_name: 'Bash', session_id: 's' },
      { engine: engine() },
    );
    assert.equal(none.decision, 'allow');
  });

  test('unknown MCP tool with nested path arguments', () => {
    const v = judge({ tool: 'mcp__files__read', input: { args: [{ path: '~/.ssh/id_rsa' }] } }, 'standard');
    assert.equal(v.decision, 'deny');
  });

  test('a denied payload yields a hook response Claude can act on', () => {
    const r = guardDecision(payload('cat ~/.aws/credentials'), { engine: engine() });
    const out = r.response.hookSpecificOutput as Record<string, string>;
    assert.equal(out.permissionDecision, 'deny');
    assert.match(out.permissionDecisionReason ?? '', /CT-CRED-002/);
    assert.match(out.permissionDecisionReason ?? '', /user/);
    assert.deepEqual(guardDecision(payload('git status'), { engine: engine() }).response, {});
  });
});
