/**
 * The Go text/template subset that `line_format` and `label_format` use: text with `{{ ... }}` actions
 * (with `{{-`/`-}}` trimming and comments), each a pipeline of commands over label fields (`.tool`), the
 * line (`__line__`), string and number literals, and a set of Loki's template functions. Control structures
 * (if, range, with, define) are not supported and refused when the query is planned.
 */
import { formatFloat, type LiteralError, unquote } from './literals.ts';

export class TemplateError extends Error {}

type Value = string | number | boolean;

type Token =
  | { kind: 'field'; name: string }
  | { kind: 'lit'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe' };

type Command = Token[];
type Part = string | Command[];

export interface TemplateInput {
  label(name: string): string;
  line: string;
}

const FUNCTIONS: Record<string, { arity: number | [number, number]; fn: (...args: Value[]) => Value }> = {
  ToLower: { arity: 1, fn: (s) => str(s).toLowerCase() },
  ToUpper: { arity: 1, fn: (s) => str(s).toUpperCase() },
  lower: { arity: 1, fn: (s) => str(s).toLowerCase() },
  upper: { arity: 1, fn: (s) => str(s).toUpperCase() },
  title: {
    arity: 1,
    fn: (s) => str(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, a, b) => a + b.toUpperCase()),
  },
  Title: {
    arity: 1,
    fn: (s) => str(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, a, b) => a + b.toUpperCase()),
  },
  trim: { arity: 1, fn: (s) => str(s).trim() },
  TrimSpace: { arity: 1, fn: (s) => str(s).trim() },
  trimAll: { arity: 2, fn: (cut, s) => trimSet(str(s), str(cut), true, true) },
  trimPrefix: { arity: 2, fn: (p, s) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)) },
  trimSuffix: {
    arity: 2,
    fn: (x, s) => (str(s).endsWith(str(x)) ? str(s).slice(0, str(s).length - str(x).length) : str(s)),
  },
  TrimPrefix: { arity: 2, fn: (s, p) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)) },
  TrimSuffix: {
    arity: 2,
    fn: (s, x) => (str(s).endsWith(str(x)) ? str(s).slice(0, str(s).length - str(x).length) : str(s)),
  },
  Trim: { arity: 2, fn: (s, cut) => trimSet(str(s), str(cut), true, true) },
  TrimLeft: { arity: 2, fn: (s, cut) => trimSet(str(s), str(cut), true, false) },
  TrimRight: { arity: 2, fn: (s, cut) => trimSet(str(s), str(cut), false, true) },
  replace: { arity: 3, fn: (o, n, s) => str(s).replaceAll(str(o), str(n)) },
  Replace: {
    arity: 4,
    fn: (s, o, n, count) => {
      let out = str(s);
      const limit = num(count);
      if (limit < 0) return out.replaceAll(str(o), str(n));
      let at = 0;
      for (let k = 0; k < limit; k++) {
        const i = out.indexOf(str(o), at);
        if (i < 0) break;
        out = out.slice(0, i) + str(n) + out.slice(i + str(o).length);
        at = i + str(n).length;
      }
      return out;
    },
  },
  default: { arity: 2, fn: (d, v) => (v === '' || v === undefined ? d : v) },
  substr: {
    arity: 3,
    fn: (start, end, s) => {
      const a = num(start);
      const b = num(end);
      const t = str(s);
      if (a < 0) return t.slice(0, b);
      if (b < 0 || b > t.length) return t.slice(a);
      return t.slice(a, b);
    },
  },
  trunc: { arity: 2, fn: (n, s) => (num(n) >= 0 ? str(s).slice(0, num(n)) : str(s).slice(num(n))) },
  contains: { arity: 2, fn: (sub, s) => str(s).includes(str(sub)) },
  hasPrefix: { arity: 2, fn: (p, s) => str(s).startsWith(str(p)) },
  hasSuffix: { arity: 2, fn: (x, s) => str(s).endsWith(str(x)) },
  repeat: { arity: 2, fn: (n, s) => str(s).repeat(Math.max(0, num(n))) },
  printf: { arity: [1, 16], fn: (f, ...args) => printf(str(f), args) },
};

function str(v: Value): string {
  return typeof v === 'number' ? formatFloat(v) : String(v);
}

function num(v: Value): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new TemplateError(`expected a number, got ${JSON.stringify(v)}`);
  return Math.trunc(n);
}

function trimSet(s: string, cut: string, left: boolean, right: boolean): string {
  let a = 0;
  let b = s.length;
  while (left && a < b && cut.includes(s[a] as string)) a++;
  while (right && b > a && cut.includes(s[b - 1] as string)) b--;
  return s.slice(a, b);
}

function printf(format: string, args: Value[]): string {
  let k = 0;
  return format.replace(
    /%(-?\d*)(?:\.(\d+))?([sdvfqx%])/g,
    (_m, width: string, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      const a = args[k++];
      if (a === undefined) return `%!${verb}(MISSING)`;
      let out: string;
      if (verb === 'd') out = String(Math.trunc(Number(a)));
      else if (verb === 'f') out = Number(a).toFixed(prec === undefined ? 6 : Number(prec));
      else if (verb === 'q') out = JSON.stringify(str(a));
      else if (verb === 'x')
        out = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(str(a)).toString('hex');
      else out = str(a);
      const w = Number(width);
      if (!width || Number.isNaN(w)) return out;
      return w < 0 ? out.padEnd(-w) : out.padStart(w);
    },
  );
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '|') {
      out.push({ kind: 'pipe' });
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      const m = c === '"' ? /^"(?:[^"\\]|\\.)*"/.exec(src.slice(i)) : /^`[^`]*`/.exec(src.slice(i));
      if (!m) throw new TemplateError('unterminated string');
      try {
        out.push({ kind: 'lit', value: unquote(m[0]) });
      } catch (err) {
        throw new TemplateError((err as LiteralError).message);
      }
      i += m[0].length;
      continue;
    }
    const numMatch = /^-?\d+(\.\d+)?/.exec(src.slice(i));
    if (numMatch) {
      out.push({ kind: 'lit', value: Number(numMatch[0]) });
      i += numMatch[0].length;
      continue;
    }
    const field = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(src.slice(i));
    if (field) {
      out.push({ kind: 'field', name: field[1] as string });
      i += field[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (ident) {
      const name = ident[0];
      if (name === 'true' || name === 'false') out.push({ kind: 'lit', value: name === 'true' });
      else out.push({ kind: 'ident', name });
      i += name.length;
      continue;
    }
    throw new TemplateError(`unexpected "${c}" in template action`);
  }
  return out;
}

const CONTROL = new Set([
  'if',
  'else',
  'end',
  'range',
  'with',
  'define',
  'template',
  'block',
  'break',
  'continue',
]);

function parseAction(src: string): Command[] {
  const tokens = tokenize(src);
  const commands: Command[] = [[]];
  for (const t of tokens) {
    if (t.kind === 'pipe') commands.push([]);
    else (commands[commands.length - 1] as Command).push(t);
  }
  for (const cmd of commands) {
    const head = cmd[0];
    if (!head) throw new TemplateError('missing value in template pipeline');
    if (head.kind === 'ident') {
      if (CONTROL.has(head.name)) throw new TemplateError(`template action "${head.name}" is not supported`);
      if (head.name !== '__line__' && !FUNCTIONS[head.name]) {
        throw new TemplateError(`function "${head.name}" is not supported in templates`);
      }
    } else if (cmd.length > 1) throw new TemplateError('a field or literal takes no arguments');
  }
  return commands;
}

/** A compiled template; throws TemplateError for what it cannot handle. */
export class Template {
  private readonly parts: Part[] = [];

  constructor(readonly text: string) {
    let i = 0;
    let pendingTrim = false;
    while (i < text.length) {
      const open = text.indexOf('{{', i);
      let lit = open < 0 ? text.slice(i) : text.slice(i, open);
      if (pendingTrim) lit = lit.replace(/^\s+/, '');
      if (open < 0) {
        if (lit) this.parts.push(lit);
        break;
      }
      const trimLeft = text[open + 2] === '-' && /\s/.test(text[open + 3] ?? '');
      if (trimLeft) lit = lit.replace(/\s+$/, '');
      if (lit) this.parts.push(lit);
      const close = text.indexOf('}}', open + 2);
      if (close < 0) throw new TemplateError('unclosed action in template');
      const trimRight = text[close - 1] === '-' && /\s/.test(text[close - 2] ?? '');
      let body = text.slice(open + (trimLeft ? 3 : 2), trimRight ? close - 1 : close).trim();
      pendingTrim = trimRight;
      i = close + 2;
      if (body.startsWith('/*')) {
        if (!body.endsWith('*/')) throw new TemplateError('unclosed comment in template');
        continue;
      }
      body = body.trim();
      this.parts.push(parseAction(body));
    }
  }

  /** Labels the template reads (`.name`), for the planner. */
  fields(): string[] {
    const out = new Set<string>();
    for (const p of this.parts) {
      if (typeof p === 'string') continue;
      for (const cmd of p) for (const t of cmd) if (t.kind === 'field') out.add(t.name);
    }
    return [...out];
  }

  render(input: TemplateInput): string {
    let out = '';
    for (const p of this.parts) out += typeof p === 'string' ? p : str(run(p, input));
    return out;
  }
}

function run(commands: Command[], input: TemplateInput): Value {
  let piped: Value | undefined;
  for (const cmd of commands) {
    const head = cmd[0] as Token;
    const arg = (t: Token): Value => {
      if (t.kind === 'field') return input.label(t.name);
      if (t.kind === 'lit') return t.value;
      if (t.kind === 'ident' && t.name === '__line__') return input.line;
      throw new TemplateError(`"${(t as { name?: string }).name}" cannot be an argument`);
    };
    if (head.kind !== 'ident' || head.name === '__line__') {
      if (piped !== undefined) throw new TemplateError('a field or literal cannot take a piped value');
      piped = arg(head);
      continue;
    }
    const f = FUNCTIONS[head.name] as (typeof FUNCTIONS)[string];
    const args = cmd.slice(1).map(arg);
    if (piped !== undefined) args.push(piped);
    const [lo, hi] = typeof f.arity === 'number' ? [f.arity, f.arity] : f.arity;
    if (args.length < lo || args.length > hi) {
      throw new TemplateError(`wrong number of arguments for ${head.name}: want ${lo}, got ${args.length}`);
    }
    piped = f.fn(...args);
  }
  return piped ?? '';
}
