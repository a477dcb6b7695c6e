import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatFloat,
  LiteralError,
  nsString,
  parseBytes,
  parseDurationMs,
  parseNumber,
  unquote,
} from '../../src/query/literals.ts';
import { literalForm, RegexError, translateRegex } from '../../src/query/regex.ts';
import { Template, TemplateError } from '../../src/query/template.ts';

const re = (p: string, anchored = false) => new RegExp(translateRegex(p, anchored));

describe('LogQL literals', () => {
  test('Go string literals', () => {
    assert.equal(unquote('"a\\"b\\\\c\\n\\t"'), 'a"b\\c\n\t');
    assert.equal(unquote('"\\u00e9\\x41\\101"'), 'éAA');
    assert.equal(unquote('`raw \\d "x"`'), 'raw \\d "x"');
    assert.throws(() => unquote('"\\q"'), LiteralError);
    assert.throws(() => unquote('"\\xff"'), LiteralError);
    assert.throws(() => unquote('"open'), LiteralError);
  });

  test('durations (Go and Prometheus units) and byte sizes (go-humanize)', () => {
    assert.equal(parseDurationMs('1h30m'), 5_400_000);
    assert.equal(parseDurationMs('1.5s'), 1500);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('-2m'), -120_000);
    assert.equal(parseDurationMs('1d'), 86_400_000);
    assert.equal(parseDurationMs('1w'), 604_800_000);
    assert.equal(parseDurationMs('0'), 0);
    assert.equal(parseDurationMs('100us'), 0.1);
    assert.throws(() => parseDurationMs('5'), LiteralError);
    assert.throws(() => parseDurationMs('5x'), LiteralError);
    assert.throws(() => parseDurationMs(''), LiteralError);
    assert.equal(parseBytes('5MB'), 5_000_000);
    assert.equal(parseBytes('1.5 KiB'), 1536);
    assert.equal(parseBytes('1,024b'), 1024);
    assert.equal(parseBytes('42'), 42);
    assert.equal(parseBytes('2gib'), 2 * 2 ** 30);
    assert.throws(() => parseBytes('5 parsecs'), LiteralError);
  });

  test('numbers read as strconv.ParseFloat and written as FormatFloat(f, -1)', () => {
    assert.equal(parseNumber('12.5'), 12.5);
    assert.equal(parseNumber('-1e3'), -1000);
    assert.equal(parseNumber('0x1f'), 31);
    assert.equal(parseNumber('+Inf'), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(parseNumber('NaN') as number));
    assert.equal(parseNumber('12ms'), undefined);
    assert.equal(parseNumber(''), undefined);
    assert.equal(formatFloat(2), '2');
    assert.equal(formatFloat(0.1), '0.1');
    assert.equal(formatFloat(1e21), '1000000000000000000000');
    assert.equal(formatFloat(1.5e-7), '0.00000015');
    assert.equal(formatFloat(-2.5e22), '-25000000000000000000000');
    assert.equal(formatFloat(Number.POSITIVE_INFINITY), '+Inf');
    assert.equal(formatFloat(Number.NaN), 'NaN');
    assert.equal(nsString(1700000000123), '1700000000123000000');
    assert.equal(nsString(0), '0');
  });
});

describe('RE2 patterns in JavaScript', () => {
  test('anchoring: matchers are whole-value and dot-all, line filters are neither', () => {
    assert.ok(re('Ba', true).test('Ba'));
    assert.ok(!re('Ba', true).test('Bash'));
    assert.ok(re('Ba').test('Bash'));
    assert.ok(re('a.b', true).test('a\nb'));
    assert.ok(!re('a.b').test('a\nb'));
    assert.ok(re('a.b').test('a\rb'), "RE2's . excludes only \\n");
    assert.ok(re('x|y', true).test('y'));
    assert.ok(!re('x|y', true).test('xy'));
  });

  test('flags, classes and escapes with RE2 meaning', () => {
    assert.ok(re('(?i)bash').test('BASH'));
    assert.ok(re('(?i)[a-c]+x').test('ABCX'));
    assert.ok(!re('(?i:a)b').test('AB'));
    assert.ok(re('(?i:a)b').test('Ab'));
    assert.ok(re('(?s)a.b').test('a\nb'));
    assert.ok(re('(?m)^b$').test('a\nb\nc'));
    assert.ok(!re('^b$').test('a\nb\nc'));
    assert.ok(re('[[:digit:]]+').test('42'));
    assert.ok(!re('\\s').test('\v'), 'RE2 \\s is [\\t\\n\\f\\r ]');
    assert.ok(re('\\Qa.b\\E').test('a.b'));
    assert.ok(!re('\\Qa.b\\E').test('axb'));
    assert.ok(re('(?P<n>x)\\x{41}').test('xA'));
    assert.ok(re('\\A\\d+\\z').test('123'));
    assert.ok(re('a{2}').test('aa'));
    assert.ok(re('\\-\\"').test('-"'));
    for (const bad of ['(?=a)', '(?<!a)b', '(a)\\1', '\\pL', '(?U)a', '(a', 'a)', '[a', '\\k']) {
      assert.throws(() => translateRegex(bad, false), RegexError, bad);
    }
  });

  test('a pattern that backtracks catastrophically still answers quickly', () => {
    const r = re('(a+)+$');
    const t = performance.now();
    assert.equal(r.test(`${'a'.repeat(5000)}b`), false);
    assert.ok(performance.now() - t < 1000);
  });

  test('literal forms let the planner use = and IN', () => {
    assert.deepEqual(literalForm('Bash|Read', true), { kind: 'alternatives', values: ['Bash', 'Read'] });
    assert.deepEqual(literalForm('a\\.b', true), { kind: 'alternatives', values: ['a.b'] });
    assert.deepEqual(literalForm('.*', true), { kind: 'any' });
    assert.deepEqual(literalForm('.+', true), { kind: 'nonEmpty' });
    assert.equal(literalForm('a.*', true), undefined);
    assert.equal(literalForm('\\d', true), undefined);
  });
});

describe('line_format templates', () => {
  const input = { label: (n: string) => ({ tool: 'Bash', project: 'acme', empty: '' })[n] ?? '', line: 'L' };

  test('fields, the line, functions and pipelines, trimming and comments', () => {
    assert.equal(new Template('{{.tool}} in {{ .project }}: {{__line__}}').render(input), 'Bash in acme: L');
    assert.equal(new Template('{{ .tool | ToUpper }}/{{ lower .tool }}').render(input), 'BASH/bash');
    assert.equal(new Template('{{ .empty | default "none" }}').render(input), 'none');
    assert.equal(new Template('{{ replace "a" "A" .project }}').render(input), 'Acme');
    assert.equal(new Template('{{ printf "%s=%d" .tool 42 }}').render(input), 'Bash=42');
    assert.equal(new Template('{{ .missing }}|{{ trunc 2 .project }}').render(input), '|ac');
    assert.equal(new Template('a  {{- .tool -}}  b{{/* note */}}').render(input), 'aBashb');
    assert.deepEqual(new Template('{{.tool}} {{.project | upper}}').fields(), ['tool', 'project']);
  });

  test('control structures and unknown functions are refused', () => {
    assert.throws(() => new Template('{{ if .tool }}x{{ end }}'), TemplateError);
    assert.throws(() => new Template('{{ nope .tool }}'), TemplateError);
    assert.throws(() => new Template('{{ .tool '), TemplateError);
    assert.throws(() => new Template('{{ substr 1 .tool }}').render(input), TemplateError);
  });
});
