/**
 * Pipeline stages evaluated in JavaScript, with Loki's semantics: line filters, `| json` (nested keys
 * joined with `_`, arrays skipped, a clash with an existing label gets `_extracted`, a bad line gets
 * __error__="JSONParserErr"), label filters (numeric filters skip entries that already carry an error, drop
 * entries without the label and mark unparsable values with LabelFilterErr), drop, keep, line_format and
 * label_format.
 */

import { QueryError } from './api.ts';
import type { CmpOp, LabelFilterExpr, LineFilterStage, Matcher, Stage } from './ast.ts';
import {
  ALIASES,
  deleteLabel,
  type Entry,
  ERROR_DETAILS_LABEL,
  ERROR_LABEL,
  hasLabel,
  labelOf,
  setParsed,
} from './labels.ts';
import { parseBytes, parseDurationMs, parseNumber } from './literals.ts';
import { lineCol } from './parser.ts';
import { regexFor, translateRegex } from './regex.ts';
import { Template, TemplateError } from './template.ts';

/** Returns false when the entry is filtered out. May change the entry's line and labels. */
export type StageFn = (e: Entry) => boolean;

export interface PipelineScope {
  /** The full session id for a `session` value (a unique prefix), or the value itself. */
  resolveSession(value: string): string;
  /** The query text, for error positions. */
  text: string;
}

export function setError(e: Entry, kind: string, details: string): void {
  if (hasLabel(e, ERROR_LABEL)) return;
  setParsed(e, ERROR_LABEL, kind);
  setParsed(e, ERROR_DETAILS_LABEL, details);
}

/** A matcher as a test on a value. */
export function valueTest(m: Matcher): (v: string) => boolean {
  const value = m.value;
  switch (m.op) {
    case '=':
      return (v) => v === value;
    case '!=':
      return (v) => v !== value;
    case '=~': {
      const re = regexFor(translateRegex(value, true));
      return (v) => re.test(v);
    }
    case '!~': {
      const re = regexFor(translateRegex(value, true));
      return (v) => !re.test(v);
    }
  }
}

/** A label's value, reading the seed's alias names (event, session) when the entry has no such label. */
export function labelReader(name: string): (e: Entry) => string {
  const alias = ALIASES[name];
  if (!alias) return (e) => labelOf(e, name);
  return (e) => (hasLabel(e, name) ? labelOf(e, name) : labelOf(e, alias));
}

export function matcherTest(m: Matcher, scope: PipelineScope): (e: Entry) => boolean {
  const read = labelReader(m.name);
  if (m.name === 'session' && (m.op === '=' || m.op === '!=')) {
    // A seed-style session prefix compares with the full id it resolves to.
    const raw = valueTest(m);
    const resolved = valueTest({ ...m, value: scope.resolveSession(m.value) });
    return (e) => (hasLabel(e, 'session') ? raw(labelOf(e, 'session')) : resolved(labelOf(e, 'session_id')));
  }
  const test = valueTest(m);
  return (e) => test(read(e));
}

function lineFilter(f: LineFilterStage): StageFn {
  const negative = f.op === '!=' || f.op === '!~';
  let any: (line: string) => boolean;
  if (f.op === '|=' || f.op === '!=') {
    const values = f.values;
    any = (line) => values.some((v) => line.includes(v));
  } else {
    const res = f.values.map((v) => regexFor(translateRegex(v, false)));
    any = (line) => res.some((re) => re.test(line));
  }
  return negative ? (e) => !any(e.line) : (e) => any(e.line);
}

export function compare(a: number, op: CmpOp, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
}

/** A label value as a number of the filter's kind (seconds for durations), undefined if it is not one. */
export function convertValue(kind: 'number' | 'duration' | 'bytes', v: string): number | undefined {
  if (kind === 'number') return parseNumber(v);
  try {
    return kind === 'duration' ? parseDurationMs(v) / 1000 : parseBytes(v);
  } catch {
    return undefined;
  }
}

export function labelFilter(expr: LabelFilterExpr, scope: PipelineScope): StageFn {
  switch (expr.kind) {
    case 'and': {
      const l = labelFilter(expr.left, scope);
      const r = labelFilter(expr.right, scope);
      // Both sides run (each may mark an error), as in Loki.
      return (e) => {
        const a = l(e);
        const b = r(e);
        return a && b;
      };
    }
    case 'or': {
      const l = labelFilter(expr.left, scope);
      const r = labelFilter(expr.right, scope);
      return (e) => l(e) || r(e);
    }
    case 'match':
      return matcherTest(expr.matcher, scope);
    default: {
      const read = labelReader(expr.name);
      const { kind, op, value } = expr;
      return (e) => {
        if (hasLabel(e, ERROR_LABEL)) return true;
        const v = read(e);
        if (v === '') return false;
        const n = convertValue(kind, v);
        if (n === undefined) {
          setError(e, 'LabelFilterErr', `cannot read "${v}" as a ${kind === 'number' ? 'number' : kind}`);
          return true;
        }
        return compare(n, op, value);
      };
    }
  }
}

/** Loki's label name sanitizing for JSON keys: invalid characters become `_`, a leading digit gets `_`. */
function sanitizeKey(key: string): string {
  let out = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

function addParsed(e: Entry, name: string, value: string): void {
  const key = name in e.stream || name in e.metadata ? `${name}_extracted` : name;
  e.parsed[key] = value;
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function flatten(obj: Record<string, unknown>, prefix: string, e: Entry): void {
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    const name = prefix === '' ? sanitizeKey(k) : `${prefix}_${sanitizeKey(k)}`;
    if (v !== null && typeof v === 'object') {
      if (!Array.isArray(v)) flatten(v as Record<string, unknown>, name, e);
      continue;
    }
    const text = scalarText(v);
    if (text !== undefined && name !== '') addParsed(e, name, text);
  }
}

function jsonStage(stage: Extract<Stage, { kind: 'json' }>): StageFn {
  const extractions = stage.extractions;
  return (e) => {
    let doc: unknown;
    try {
      doc = JSON.parse(e.line);
    } catch (err) {
      setError(e, 'JSONParserErr', (err as Error).message);
      return true;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      setError(e, 'JSONParserErr', 'the line is not a JSON object');
      return true;
    }
    if (!extractions) {
      flatten(doc as Record<string, unknown>, '', e);
      return true;
    }
    for (const x of extractions) {
      let v: unknown = doc;
      for (const p of x.path) {
        if (v === null || typeof v !== 'object') {
          v = undefined;
          break;
        }
        v = (v as Record<string | number, unknown>)[p];
      }
      if (v === undefined || v === null) continue;
      addParsed(e, x.label, typeof v === 'object' ? JSON.stringify(v) : (scalarText(v) as string));
    }
    return true;
  };
}

function template(text: string, pos: number, scope: PipelineScope): Template {
  try {
    return new Template(text);
  } catch (err) {
    if (err instanceof TemplateError) {
      throw new QueryError(`invalid template at ${lineCol(scope.text, pos)}: ${err.message}`, pos);
    }
    throw err;
  }
}

function render(t: Template, e: Entry): string | undefined {
  try {
    return t.render({ label: (n) => labelOf(e, n), line: e.line });
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    setError(e, 'TemplateFormatErr', err.message);
    return undefined;
  }
}

function labelNames(e: Entry): string[] {
  return [...Object.keys(e.stream), ...Object.keys(e.metadata), ...Object.keys(e.parsed)];
}

export function compileStage(stage: Stage, scope: PipelineScope): StageFn {
  switch (stage.kind) {
    case 'line_filter':
      return lineFilter(stage);
    case 'json':
      return jsonStage(stage);
    case 'label_filter':
      return labelFilter(stage.expr, scope);
    case 'drop': {
      const items = stage.items.map((i) => ({
        name: i.name,
        test: i.matcher ? valueTest(i.matcher) : undefined,
      }));
      return (e) => {
        for (const i of items) if (!i.test || i.test(labelOf(e, i.name))) deleteLabel(e, i.name);
        return true;
      };
    }
    case 'keep': {
      const plain = new Set(stage.items.filter((i) => !i.matcher).map((i) => i.name));
      const matched = stage.items
        .filter((i) => i.matcher)
        .map((i) => ({ name: i.name, test: valueTest(i.matcher as Matcher) }));
      return (e) => {
        for (const n of labelNames(e)) {
          if (n === ERROR_LABEL || n === ERROR_DETAILS_LABEL || plain.has(n)) continue;
          if (matched.some((m) => m.name === n && m.test(labelOf(e, n)))) continue;
          deleteLabel(e, n);
        }
        return true;
      };
    }
    case 'line_format': {
      const t = template(stage.template, stage.pos, scope);
      return (e) => {
        const line = render(t, e);
        if (line !== undefined) {
          e.line = line;
          e.bytes = -1;
        }
        return true;
      };
    }
    case 'label_format': {
      const items = stage.items.map((i) => ({
        ...i,
        t: i.template !== undefined ? template(i.template, stage.pos, scope) : undefined,
      }));
      return (e) => {
        for (const i of items) {
          if (i.t) {
            const v = render(i.t, e);
            if (v !== undefined) setParsed(e, i.dst, v);
          } else {
            const v = labelOf(e, i.src as string);
            deleteLabel(e, i.src as string);
            if (v === '') deleteLabel(e, i.dst);
            else setParsed(e, i.dst, v);
          }
        }
        return true;
      };
    }
  }
}

/** The stages as one function over an entry. */
export function compilePipeline(stages: readonly Stage[], scope: PipelineScope): StageFn {
  const fns = stages.map((s) => compileStage(s, scope));
  if (fns.length === 0) return () => true;
  return (e) => {
    for (const f of fns) if (!f(e)) return false;
    return true;
  };
}

/** Bytes of the entry's current line. */
export function lineBytes(e: Entry): number {
  if (e.bytes < 0) e.bytes = Buffer.byteLength(e.line);
  return e.bytes;
}
