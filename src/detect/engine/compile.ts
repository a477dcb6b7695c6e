/**
 * Compiles a rule's detection (Sigma-style named selections + a condition) into a predicate over a
 * subject. A selection maps `field|modifier|...` to a value or a list of values (any matches, or all
 * with `|all`); every field of a selection must match. `@name` pulls in a list. Matching is
 * case-insensitive unless `|cased`. Regexes are compiled once, linted for catastrophic backtracking at
 * load time, and only ever see a bounded slice of text.
 */
import picomatch from 'picomatch';
import { globMatcher } from '../paths.ts';
import { type FieldValue, fieldGetter, fieldKind, type Subject, type SubjectKind } from './fields.ts';

export type Predicate = (s: Subject) => boolean;

export class RuleError extends Error {
  override name = 'RuleError';
}

/** Regex subjects longer than this are scanned in overlapping windows of this size. */
export const MAX_REGEX_INPUT = 16 * 1024;
const WINDOW_OVERLAP = 512;

const MODIFIERS = new Set([
  'contains',
  'startswith',
  'endswith',
  're',
  'glob',
  'domain',
  'exists',
  'all',
  'cased',
  'gte',
  'lte',
  'not',
]);

export type Lists = ReadonlyMap<string, readonly string[]>;

/**
 * Refuses regexes that can backtrack exponentially: a quantified group whose body itself has an
 * unbounded quantifier (`(a+)+`, `(\w*\s?)*`), and backreferences.
 */
export function lintRegex(source: string): string | null {
  if (/\\[1-9]/.test(source)) return 'backreferences are not allowed';
  const stack: { quantified: boolean }[] = [];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      continue;
    }
    if (c === '(') stack.push({ quantified: false });
    else if (c === ')') {
      const inner = stack.pop();
      const next = source[i + 1];
      const unbounded =
        next === '*' || next === '+' || (next === '{' && /^\{\d*,\}/.test(source.slice(i + 1)));
      if (inner?.quantified && unbounded) return `nested unbounded quantifier near position ${i}`;
      if (inner?.quantified && stack.length > 0)
        (stack[stack.length - 1] as { quantified: boolean }).quantified = true;
      if (unbounded && stack.length > 0)
        (stack[stack.length - 1] as { quantified: boolean }).quantified = true;
    } else if (
      (c === '*' || c === '+' || (c === '{' && /^\{\d*,\}/.test(source.slice(i)))) &&
      stack.length > 0
    ) {
      (stack[stack.length - 1] as { quantified: boolean }).quantified = true;
    }
  }
  return null;
}

/** Compiles a regex from a rule: Python-style leading inline flags become JS flags; lint failures throw. */
export function compileRegex(pattern: string, cased: boolean): RegExp {
  let src = pattern;
  let flags = cased ? '' : 'i';
  const inline = /^\(\?([imsx]+)\)/.exec(src);
  if (inline) {
    src = src.slice(inline[0].length);
    for (const f of inline[1] as string) if (f !== 'x' && !flags.includes(f)) flags += f;
  }
  const problem = lintRegex(src);
  if (problem !== null) throw new RuleError(`regex /${pattern}/: ${problem}`);
  // Unicode mode only when the pattern needs it (\u{...}, \p{...}): it makes case-insensitive matching slower.
  if (/\\u\{|\\[pP]\{/.test(src)) flags += 'u';
  try {
    return new RegExp(src, flags);
  } catch (err) {
    throw new RuleError(`regex /${pattern}/ does not compile: ${(err as Error).message}`);
  }
}

/** Tests a regex against bounded windows of the text. */
export function boundedTest(re: RegExp, text: string): boolean {
  if (text.length <= MAX_REGEX_INPUT) return re.test(text);
  for (let i = 0; i < text.length; i += MAX_REGEX_INPUT - WINDOW_OVERLAP) {
    if (re.test(text.slice(i, i + MAX_REGEX_INPUT))) return true;
  }
  return false;
}

function expandValues(raw: unknown, lists: Lists, where: string): (string | number | boolean | null)[] {
  const vals = Array.isArray(raw) ? raw : [raw];
  const out: (string | number | boolean | null)[] = [];
  for (const v of vals) {
    if (typeof v === 'string' && v.startsWith('@') && v.length > 1 && !v.includes(' ')) {
      const list = lists.get(v.slice(1));
      if (list === undefined) throw new RuleError(`${where}: unknown list "${v}"`);
      out.push(...list);
    } else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      out.push(v);
    else throw new RuleError(`${where}: values must be strings, numbers, booleans or null`);
  }
  return out;
}

type ValueTest = (v: string) => boolean;

function valueTest(mod: string | undefined, value: string, cased: boolean): ValueTest {
  const want = cased ? value : value.toLowerCase();
  const norm = cased ? (s: string) => s : (s: string) => s.toLowerCase();
  switch (mod) {
    case undefined:
      return (s) => norm(s) === want;
    case 'contains':
      return (s) => norm(s).includes(want);
    case 'startswith':
      return (s) => norm(s).startsWith(want);
    case 'endswith':
      return (s) => norm(s).endsWith(want);
    case 're': {
      const re = compileRegex(value, cased);
      return (s) => boundedTest(re, s);
    }
    case 'glob': {
      const m = globMatcher(value);
      return (s) => m(s);
    }
    case 'domain':
      // the host itself or any subdomain of it
      return (s) => {
        const h = norm(s);
        return h === want || h.endsWith(`.${want}`);
      };
    default:
      throw new RuleError(`unknown modifier "${mod}"`);
  }
}

/**
 * One test per value list where possible: equality becomes a set lookup and a list of globs one
 * regex, so a selection over a 30-pattern list costs one match per field value.
 */
function combinedTests(op: string | undefined, values: string[], cased: boolean): ValueTest[] {
  if (values.length > 1 && op === undefined) {
    const set = new Set(cased ? values : values.map((v) => v.toLowerCase()));
    return [cased ? (s) => set.has(s) : (s) => set.has(s.toLowerCase())];
  }
  if (values.length > 1 && op === 'glob') {
    const re = new RegExp(
      values.map((v) => picomatch.makeRe(v, { dot: true, nocase: true }).source).join('|'),
      'i',
    );
    return [(s) => re.test(s)];
  }
  return values.map((v) => valueTest(op, v, cased));
}

function asStrings(v: FieldValue): readonly string[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v as readonly string[];
  return [String(v)];
}

/** One `field|mods: values` entry of a selection. */
function fieldPredicate(
  key: string,
  raw: unknown,
  lists: Lists,
  where: string,
): { pred: Predicate; kind: SubjectKind } {
  const [field, ...mods] = key.split('|');
  if (field === undefined || field === '') throw new RuleError(`${where}: empty field name`);
  for (const m of mods)
    if (!MODIFIERS.has(m)) throw new RuleError(`${where}: unknown modifier "${m}" on ${field}`);
  const kind = fieldKind(field);
  if (kind === null) throw new RuleError(`${where}: unknown field "${field}"`);
  const get = fieldGetter(field);
  const cased = mods.includes('cased');
  const all = mods.includes('all');
  const negate = mods.includes('not');
  const op = mods.find(
    (m) =>
      m === 'contains' ||
      m === 'startswith' ||
      m === 'endswith' ||
      m === 're' ||
      m === 'glob' ||
      m === 'domain',
  );
  let pred: Predicate;
  if (mods.includes('exists')) {
    const want = raw !== false;
    pred = (s) => {
      const v = get(s);
      const present = v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0);
      return present === want;
    };
  } else if (mods.includes('gte') || mods.includes('lte')) {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new RuleError(`${where}: ${field}|gte/lte needs a number`);
    const gte = mods.includes('gte');
    pred = (s) => {
      const v = get(s);
      const x = typeof v === 'number' ? v : Array.isArray(v) ? v.length : Number(v);
      return gte ? x >= n : x <= n;
    };
  } else {
    const values = expandValues(raw, lists, where);
    const bools = values.filter((v): v is boolean => typeof v === 'boolean');
    const strs = values.filter((v) => typeof v === 'string' || typeof v === 'number').map(String);
    const wantsNull = values.includes(null);
    const tests = combinedTests(op, strs, cased);
    pred = (s) => {
      const v = get(s);
      if (typeof v === 'boolean')
        return bools.includes(v) || (strs.length > 0 && tests.some((t) => t(String(v))));
      if (v === undefined || v === '') return wantsNull;
      const items = asStrings(v);
      if (all) return tests.every((t) => items.some((x) => t(x)));
      for (const x of items) for (const t of tests) if (t(x)) return true;
      return false;
    };
  }
  return { pred: negate ? (s) => !pred(s) : pred, kind };
}

function costOf(key: string): number {
  if (key.startsWith('content.')) return 4;
  if (key.includes('|re')) return 3;
  if (key.includes('|glob')) return 2;
  if (key.includes('|')) return 1;
  return 0;
}

export interface CompiledSelection {
  pred: Predicate;
  kinds: Set<SubjectKind>;
}

/** A selection: a map (all fields must match) or a list of maps (any map matches). */
export function compileSelection(raw: unknown, lists: Lists, where: string): CompiledSelection {
  const kinds = new Set<SubjectKind>();
  const one = (m: unknown, w: string): Predicate => {
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      throw new RuleError(`${w}: a selection is a map of field: value`);
    const preds = Object.entries(m as Record<string, unknown>)
      .map(([k, v]) => {
        const f = fieldPredicate(k, v, lists, `${w}.${k}`);
        kinds.add(f.kind);
        return { pred: f.pred, cost: costOf(k) };
      })
      // cheap tests first: equality and flags before globs, regexes and content
      .sort((a, b) => a.cost - b.cost)
      .map((x) => x.pred);
    if (preds.length === 0) throw new RuleError(`${w}: empty selection`);
    return (s) => {
      for (const p of preds) if (!p(s)) return false;
      return true;
    };
  };
  if (Array.isArray(raw)) {
    const alts = raw.map((m, i) => one(m, `${where}[${i}]`));
    return { pred: (s) => alts.some((p) => p(s)), kinds };
  }
  return { pred: one(raw, where), kinds };
}

// ---- condition expressions -------------------------------------------------------------------------

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: 'and' | 'or' | 'not' | '(' | ')' }
  | { t: 'of'; v: 'one' | 'all' };

function tokenize(cond: string, where: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\()|(\))|(1 of|any of)\b|(all of)\b|(and|or|not)\b|([A-Za-z_][A-Za-z0-9_*.-]*))/y;
  let i = 0;
  while (i < cond.length) {
    if (/^\s*$/.test(cond.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(cond);
    if (!m) throw new RuleError(`${where}: cannot read condition at "${cond.slice(i, i + 20)}"`);
    i = re.lastIndex;
    if (m[1]) out.push({ t: 'op', v: '(' });
    else if (m[2]) out.push({ t: 'op', v: ')' });
    else if (m[3]) out.push({ t: 'of', v: 'one' });
    else if (m[4]) out.push({ t: 'of', v: 'all' });
    else if (m[5]) out.push({ t: 'op', v: m[5] as 'and' | 'or' | 'not' });
    else out.push({ t: 'id', v: m[6] as string });
  }
  return out;
}

/** Compiles `sel_a and not (filter_b or 1 of sel_*)` over named predicates. */
export function compileCondition(
  cond: string,
  named: ReadonlyMap<string, Predicate>,
  where: string,
): Predicate {
  const toks = tokenize(cond, where);
  let pos = 0;
  const peek = () => toks[pos];
  const resolve = (pattern: string): Predicate[] => {
    if (!pattern.includes('*')) {
      const p = named.get(pattern);
      if (!p) throw new RuleError(`${where}: condition names unknown selection "${pattern}"`);
      return [p];
    }
    const m = globMatcher(pattern);
    const hits = [...named.entries()].filter(([k]) => m(k)).map(([, p]) => p);
    if (hits.length === 0) throw new RuleError(`${where}: "${pattern}" matches no selection`);
    return hits;
  };
  const primary = (): Predicate => {
    const tk = toks[pos++];
    if (tk === undefined) throw new RuleError(`${where}: condition ends early`);
    if (tk.t === 'op' && tk.v === 'not') {
      const p = primary();
      return (s) => !p(s);
    }
    if (tk.t === 'op' && tk.v === '(') {
      const p = orExpr();
      const close = toks[pos++];
      if (close?.t !== 'op' || close.v !== ')') throw new RuleError(`${where}: missing ")"`);
      return p;
    }
    if (tk.t === 'of') {
      const id = toks[pos++];
      if (id?.t !== 'id') throw new RuleError(`${where}: "of" needs a selection name or pattern`);
      const ps = resolve(id.v);
      return tk.v === 'one' ? (s) => ps.some((p) => p(s)) : (s) => ps.every((p) => p(s));
    }
    if (tk.t === 'id') {
      const ps = resolve(tk.v);
      return ps.length === 1 ? (ps[0] as Predicate) : (s) => ps.some((p) => p(s));
    }
    throw new RuleError(`${where}: unexpected "${tk.v}" in condition`);
  };
  const andExpr = (): Predicate => {
    let left = primary();
    while (peek()?.t === 'op' && (peek() as { v: string }).v === 'and') {
      pos++;
      const l = left;
      const r = primary();
      left = (s) => l(s) && r(s);
    }
    return left;
  };
  const orExpr = (): Predicate => {
    let left = andExpr();
    while (peek()?.t === 'op' && (peek() as { v: string }).v === 'or') {
      pos++;
      const l = left;
      const r = andExpr();
      left = (s) => l(s) || r(s);
    }
    return left;
  };
  const p = orExpr();
  if (pos !== toks.length) throw new RuleError(`${where}: unexpected text after the condition`);
  return p;
}
