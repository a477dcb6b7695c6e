import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileRegex, lintRegex, RuleError } from '../../src/detect/engine/compile.ts';
import { defaultRulesDir, loadRuleSet, yamlFilesIn } from '../../src/detect/engine/ruleset.ts';
import { runRuleTests, runTestCase } from '../../src/detect/engine/testing.ts';
import { type BashParser, loadBashParser } from '../../src/detect/shell/grammar.ts';

let parser: BashParser;
before(async () => {
  parser = await loadBashParser();
});

describe('shipped rules', () => {
  test('load without problems, at least 35 rules, each with a MITRE id and inline tests', () => {
    const set = loadRuleSet();
    assert.deepEqual(set.problems, []);
    assert.ok(set.rules.length >= 35, `${set.rules.length} rules`);
    for (const r of set.rules) {
      assert.ok(r.def.mitre.length > 0, r.id);
      if (!r.def.threshold) assert.ok((r.def.tests?.match.length ?? 0) > 0, `${r.id} has no match test`);
    }
  });

  test('every inline match / no_match case holds', () => {
    const report = runRuleTests(loadRuleSet(), undefined, parser);
    const lines = report.failures.map(
      (f) => `${f.rule} ${f.kind}[${f.index}] ${JSON.stringify(f.case.input)} -> ${f.got}`,
    );
    assert.deepEqual(lines, []);
    assert.ok(report.cases > 300, `${report.cases} cases`);
  });
});

describe('rule files: layering', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ct-rules-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, body: string) => {
    const f = join(dir, name);
    writeFileSync(f, body);
    return f;
  };
  const defaults = yamlFilesIn(defaultRulesDir());

  test('a project file cannot weaken or disable a rule; the user file can lower a high rule', () => {
    const project = write(
      'project.yaml',
      'schema_version: 1\noverrides:\n  - { rule: CT-GIT-001, action: log }\n  - { rule: CT-EXEC-001, enabled: false }\n',
    );
    const set = loadRuleSet({ defaultFiles: defaults, projectFiles: [project] });
    assert.equal(set.rules.find((r) => r.id === 'CT-GIT-001')?.action, 'deny');
    assert.equal(set.rules.find((r) => r.id === 'CT-EXEC-001')?.def.enabled, true);
    assert.equal(set.problems.length, 2);
    const user = write('user.yaml', 'schema_version: 1\noverrides:\n  - { rule: CT-GIT-001, action: ask }\n');
    const u = loadRuleSet({ defaultFiles: defaults, userFiles: [user] });
    assert.equal(u.rules.find((r) => r.id === 'CT-GIT-001')?.action, 'ask');
  });

  test('critical rules that are not overridable cannot be lowered even by the user', () => {
    const user = write(
      'user2.yaml',
      'schema_version: 1\noverrides:\n  - { rule: CT-DESTR-001, enabled: false }\n',
    );
    const set = loadRuleSet({ defaultFiles: defaults, userFiles: [user] });
    assert.equal(set.rules.find((r) => r.id === 'CT-DESTR-001')?.def.enabled, true);
    assert.match(set.problems[0]?.message ?? '', /not overridable/);
  });

  test('a project file can add a rule and make one stricter; it cannot append to lists', () => {
    const project = write(
      'p2.yaml',
      [
        'schema_version: 1',
        'append_lists: { exfil_domains: [example.org] }',
        'overrides:',
        '  - { rule: CT-GIT-002, action: deny }',
        'rules:',
        '  - id: PROJ-001',
        '    title: no npm publish',
        '    severity: high',
        '    action: deny',
        '    tools: [Bash]',
        '    each: segment',
        '    detection: { sel: { seg.argv0: npm, seg.sub: publish } }',
        '    mitre: [T1195]',
        '    message: Publishing is done by CI.',
        '',
      ].join('\n'),
    );
    const set = loadRuleSet({ defaultFiles: defaults, projectFiles: [project] });
    assert.equal(set.rules.find((r) => r.id === 'CT-GIT-002')?.action, 'deny');
    assert.ok(!set.lists.get('exfil_domains')?.includes('example.org'));
    assert.deepEqual(
      runTestCase(set, { tool: 'Bash', input: { command: 'npm publish' } }, 'PreToolUse', parser),
      ['PROJ-001'],
    );
  });

  test('a broken user file is reported, the rest still loads', () => {
    const bad = write('bad.yaml', 'schema_version: 1\nrules:\n  - id: nope\n');
    const set = loadRuleSet({ defaultFiles: defaults, userFiles: [bad] });
    assert.equal(set.problems.length, 1);
    assert.ok(set.rules.length >= 35);
  });
});

describe('regex guard', () => {
  test('nested unbounded quantifiers and backreferences are refused', () => {
    assert.notEqual(lintRegex('(a+)+$'), null);
    assert.notEqual(lintRegex('(\\w*\\s?)*x'), null);
    assert.notEqual(lintRegex('(a)\\1'), null);
    assert.equal(lintRegex('(ab){0,3}c+'), null);
    assert.throws(() => compileRegex('(x+x+)+y', false), RuleError);
  });

  test('Python-style inline flags become JS flags instead of failing', () => {
    const re = compileRegex('(?i)ignore previous', true);
    assert.ok(re.test('IGNORE PREVIOUS'));
  });
});
