/**
 * Go RE2 regular expressions, as LogQL writes them, translated into JavaScript ones with RE2's meaning.
 *
 * The translation emits plain patterns (no i, s, m or u flag): case-insensitivity becomes character
 * classes, `.` and `\s` get RE2's sets, and ^/$ in multi-line mode become lookarounds. Constructs RE2 does
 * not have (backreferences, lookarounds) are refused as RE2 refuses them; Unicode classes (\p{...}) are not
 * supported. Without the u and i flags every pattern stays eligible for V8's linear-time engine, which is
 * switched on below for patterns that backtrack excessively: a hostile regex cannot stall the collector.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

export class RegexError extends Error {}

interface Flags {
  i: boolean;
  s: boolean;
  m: boolean;
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2's \s is [\t\n\f\r ]; JavaScript's is wider. */
const SPACE = '\\t\\n\\f\\r ';
const NOT_SPACE_IN_CLASS = '\\x00-\\x08\\x0b\\x0e-\\x1f\\x21-\\uffff';

function escapeInClass(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}

function escapeOutside(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function caseVariants(c: string): string[] {
  const out = new Set([c]);
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  if ([...lo].length === 1) out.add(lo);
  if ([...up].length === 1) out.add(up);
  return [...out];
}

function literal(c: string, f: Flags): string {
  if (!f.i) return escapeOutside(c);
  const v = caseVariants(c);
  return v.length === 1 ? escapeOutside(c) : `[${v.map(escapeInClass).join('')}]`;
}

/** Case-folded counterpart of an ASCII letter range (the part of lo-hi inside a-z or A-Z). */
function foldedRange(lo: number, hi: number): string {
  let out = '';
  for (const [a, z, shift] of [
    [97, 122, -32],
    [65, 90, 32],
  ] as const) {
    const from = Math.max(lo, a);
    const to = Math.min(hi, z);
    if (from <= to)
      out += `${escapeInClass(String.fromCharCode(from + shift))}-${escapeInClass(String.fromCharCode(to + shift))}`;
  }
  return out;
}

class Translator {
  private i = 0;
  private out = '';
  private readonly stack: Flags[] = [];

  constructor(
    private readonly src: string,
    private flags: Flags,
  ) {}

  run(): string {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i] as string;
      if (c === '\\') this.escape();
      else if (c === '[') this.charClass();
      else if (c === '(') this.open();
      else if (c === ')') {
        const f = this.stack.pop();
        if (!f) throw new RegexError('unexpected )');
        this.flags = f;
        this.out += ')';
        this.i++;
      } else if (c === '.') {
        this.out += this.flags.s ? '[\\s\\S]' : '[^\\n]';
        this.i++;
      } else if (c === '^') {
        this.out += this.flags.m ? '(?<![^\\n])' : '^';
        this.i++;
      } else if (c === '$') {
        this.out += this.flags.m ? '(?![^\\n])' : '$';
        this.i++;
      } else if ('*+?|'.includes(c)) {
        this.out += c;
        this.i++;
      } else if (c === '{' && /^\{\d+(,\d*)?\}/.test(s.slice(this.i))) {
        const m = /^\{\d+(,\d*)?\}/.exec(s.slice(this.i)) as RegExpExecArray;
        this.out += m[0];
        this.i += m[0].length;
      } else {
        const cp = String.fromCodePoint(s.codePointAt(this.i) as number);
        this.out += literal(cp, this.flags);
        this.i += cp.length;
      }
    }
    if (this.stack.length > 0) throw new RegexError('missing closing )');
    return this.out;
  }

  private open(): void {
    const rest = this.src.slice(this.i);
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    if (named) {
      this.stack.push(this.flags);
      this.out += `(?<${named[1]}>`;
      this.i += named[0].length;
      return;
    }
    const fl = /^\(\?([imsU]*)(?:-([imsU]*))?(:|\))/.exec(rest);
    if (fl && (fl[1] !== '' || fl[2] !== undefined || fl[3] === ':')) {
      const next = { ...this.flags };
      for (const [set, on] of [
        [fl[1] ?? '', true],
        [fl[2] ?? '', false],
      ] as const) {
        for (const f of set) {
          if (f === 'U') throw new RegexError('the ungreedy flag (?U) is not supported');
          next[f as keyof Flags] = on;
        }
      }
      this.i += fl[0].length;
      if (fl[3] === ')') {
        this.flags = next;
        return;
      }
      this.stack.push(this.flags);
      this.flags = next;
      this.out += '(?:';
      return;
    }
    if (rest.startsWith('(?'))
      throw new RegexError(`invalid or unsupported Perl syntax: ${rest.slice(0, 3)}`);
    this.stack.push(this.flags);
    this.out += '(';
    this.i++;
  }

  /** An escape outside a class. */
  private escape(): void {
    const s = this.src;
    const e = s[this.i + 1];
    if (e === undefined) throw new RegexError('trailing backslash at end of expression');
    this.i += 2;
    if ('dDwWbB'.includes(e)) this.out += `\\${e}`;
    else if (e === 's') this.out += `[${SPACE}]`;
    else if (e === 'S') this.out += `[^${SPACE}]`;
    else if (e === 'A') this.out += this.flags.m ? '(?<![\\s\\S])' : '^';
    else if (e === 'z') this.out += this.flags.m ? '(?![\\s\\S])' : '$';
    else if (e === 'Q') {
      const end = s.indexOf('\\E', this.i);
      const text = end < 0 ? s.slice(this.i) : s.slice(this.i, end);
      for (const c of text) this.out += literal(c, this.flags);
      this.i = end < 0 ? s.length : end + 2;
    } else this.out += literal(this.escapedChar(e), this.flags);
  }

  /** The character an escape stands for (shared by classes and the rest); i is past the escape letter. */
  private escapedChar(e: string): string {
    const s = this.src;
    const controls: Record<string, string> = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', a: '\x07' };
    if (controls[e] !== undefined) return controls[e] as string;
    if (e === 'x') {
      const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(s.slice(this.i));
      const plain = /^[0-9a-fA-F]{2}/.exec(s.slice(this.i));
      const hex = braced ? braced[1] : plain?.[0];
      if (hex === undefined) throw new RegexError('invalid escape sequence: \\x');
      this.i += (braced ?? plain)?.[0].length ?? 0;
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff) throw new RegexError(`invalid escape sequence: \\x{${hex}}`);
      return String.fromCodePoint(cp);
    }
    if (e >= '0' && e <= '7') {
      const oct = /^[0-7]{0,2}/.exec(s.slice(this.i))?.[0] ?? '';
      if (e !== '0' && oct.length < 2) throw new RegexError(`backreferences are not supported: \\${e}`);
      this.i += oct.length;
      return String.fromCharCode(Number.parseInt(e + oct, 8));
    }
    if (e === 'p' || e === 'P') throw new RegexError('Unicode classes (\\p, \\P) are not supported');
    if (/[0-9A-Za-z]/.test(e)) throw new RegexError(`invalid escape sequence: \\${e}`);
    return e;
  }

  private charClass(): void {
    const s = this.src;
    this.i++;
    let negate = false;
    if (s[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let body = '';
    let first = true;
    for (;;) {
      const c = s[this.i];
      if (c === undefined) throw new RegexError('missing closing ]');
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(s.slice(this.i));
      if (posix) {
        const set = POSIX_CLASSES[posix[2] as string];
        if (!set || posix[1]) throw new RegexError(`unsupported character class ${posix[0]}`);
        body += set;
        this.i += posix[0].length;
        continue;
      }
      if (c === '\\') {
        const e = s[this.i + 1];
        if (e !== undefined && 'dDwW'.includes(e)) {
          body += `\\${e}`;
          this.i += 2;
          continue;
        }
        if (e === 's' || e === 'S') {
          body += e === 's' ? SPACE : NOT_SPACE_IN_CLASS;
          this.i += 2;
          continue;
        }
      }
      const lo = this.classChar();
      if (s[this.i] === '-' && s[this.i + 1] !== undefined && s[this.i + 1] !== ']') {
        this.i++;
        const hi = this.classChar();
        const a = lo.codePointAt(0) as number;
        const b = hi.codePointAt(0) as number;
        if (b < a) throw new RegexError(`invalid character class range ${lo}-${hi}`);
        body += `${escapeInClass(lo)}-${escapeInClass(hi)}`;
        if (this.flags.i) body += foldedRange(a, b);
      } else {
        body += (this.flags.i ? caseVariants(lo) : [lo]).map(escapeInClass).join('');
      }
    }
    this.out += `[${negate ? '^' : ''}${body}]`;
  }

  private classChar(): string {
    const s = this.src;
    const c = s[this.i] as string;
    if (c !== '\\') {
      const cp = String.fromCodePoint(s.codePointAt(this.i) as number);
      this.i += cp.length;
      return cp;
    }
    const e = s[this.i + 1];
    if (e === undefined) throw new RegexError('trailing backslash at end of expression');
    this.i += 2;
    return this.escapedChar(e);
  }
}

/**
 * The JavaScript source for an RE2 pattern. `anchored` wraps it as Prometheus label matchers do
 * (`^(?s:re)$`: whole value, `.` matches newlines); line filters are unanchored and without s.
 */
export function translateRegex(pattern: string, anchored: boolean): string {
  const body = new Translator(pattern, { i: false, s: anchored, m: false }).run();
  const source = anchored ? `^(?:${body})$` : body;
  try {
    new RegExp(source);
  } catch (err) {
    throw new RegexError((err as Error).message.replace(/^Invalid regular expression: /, ''));
  }
  return source;
}

const compiled = new Map<string, RegExp>();

/** A RegExp for a translated source, cached (the SQL REGEXP function calls this per row). */
export function regexFor(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    if (compiled.size >= 1000) compiled.clear();
    re = new RegExp(source);
    compiled.set(source, re);
  }
  return re;
}

/** The SQL REGEXP function: `value REGEXP source` calls regexp(source, value). */
export function sqlRegexp(source: unknown, value: unknown): number {
  if (typeof value !== 'string' || typeof source !== 'string') return 0;
  return regexFor(source).test(value) ? 1 : 0;
}

/**
 * What a pattern amounts to when it is only literals: a list of alternatives (`Bash|Read`), `any` (`.*`),
 * `nonEmpty` (`.+`), or undefined when it needs a regex engine. Lets the planner use = and IN in SQL.
 */
export type LiteralForm = { kind: 'alternatives'; values: string[] } | { kind: 'any' } | { kind: 'nonEmpty' };

export function literalForm(pattern: string, anchored: boolean): LiteralForm | undefined {
  if (anchored && pattern === '.*') return { kind: 'any' };
  if (anchored && pattern === '.+') return { kind: 'nonEmpty' };
  const values: string[] = [];
  let cur = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '|') {
      values.push(cur);
      cur = '';
    } else if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined || /[0-9A-Za-z]/.test(e)) return undefined;
      cur += e;
      i++;
    } else if (/[.^$*+?()[\]{}]/.test(c)) return undefined;
    else cur += c;
  }
  values.push(cur);
  return { kind: 'alternatives', values };
}
