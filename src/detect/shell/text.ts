/**
 * Word-level shell semantics that the grammar leaves to the shell: ANSI-C quoting (`$'\x72\x6d'`),
 * backslash escapes, brace expansion (`{rm,-rf,/}`) and tilde expansion. Each is bounded so that a
 * hostile word cannot blow up time or memory.
 */
import { dirname, join } from 'node:path';

/** Brace expansion stops after this many words (bash would go on; the analysis does not need to). */
export const MAX_BRACE_WORDS = 256;

/** Decodes the body of a `$'...'` string (without the `$'` and `'`). */
export function decodeAnsiC(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const n = body[++i] as string;
    switch (n) {
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'e':
      case 'E':
        out += '\x1b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(body.slice(i + 1, i + 3));
        if (m) {
          out += String.fromCharCode(Number.parseInt(m[0], 16));
          i += m[0].length;
        } else out += '\\x';
        break;
      }
      case 'u':
      case 'U': {
        const m = (n === 'u' ? /^[0-9a-fA-F]{1,4}/ : /^[0-9a-fA-F]{1,8}/).exec(body.slice(i + 1, i + 9));
        if (m) {
          const cp = Number.parseInt(m[0], 16);
          out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
          i += m[0].length;
        } else out += `\\${n}`;
        break;
      }
      case 'c': {
        const ch = body[i + 1];
        if (ch !== undefined) {
          out += String.fromCharCode(ch.charCodeAt(0) & 0x1f);
          i++;
        }
        break;
      }
      default: {
        const m = /^[0-7]{1,3}/.exec(body.slice(i, i + 3));
        if (m) {
          out += String.fromCharCode(Number.parseInt(m[0], 8) & 0xff);
          i += m[0].length - 1;
        } else out += n; // \\ \' \" \? and unknown escapes
      }
    }
  }
  return out;
}

/** Backslash escapes of an unquoted word: `\x` is `x`, backslash-newline disappears. */
export function unescapeUnquoted(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      const n = s[++i] as string;
      if (n !== '\n') out += n;
    } else out += c;
  }
  return out;
}

/** Escapes inside double quotes: only `\$ \` \" \\` and backslash-newline are special. */
export function unescapeDouble(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([$`"\\\n])/g, (_m, ch: string) => (ch === '\n' ? '' : ch));
}

/**
 * Bash brace expansion of a word whose literal (quoted or escaped) characters are marked by a preceding
 * `\u0000`: `{a,b}c` -> [ac, bc], `{1..3}` -> [1, 2, 3]. Marked characters never act as syntax.
 */
export function expandBraces(marked: string, limit = MAX_BRACE_WORDS): string[] {
  const out: string[] = [];
  expandInto(marked, out, limit, 0);
  return out.map(unmark);
}

const MARK = '\u0000';

export function unmark(s: string): string {
  if (!s.includes(MARK)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === MARK && i + 1 < s.length) i++;
    out += s[i];
  }
  return out;
}

/** Marks every character of a literal so brace syntax inside it is inert. */
export function markLiteral(s: string): string {
  if (!/[{},.]/.test(s)) return s;
  let out = '';
  for (const ch of s) out += /[{},.]/.test(ch) ? MARK + ch : ch;
  return out;
}

function expandInto(word: string, out: string[], limit: number, depth: number): void {
  if (out.length >= limit) return;
  const b = findBrace(word);
  if (b === null || depth > 8) {
    out.push(word);
    return;
  }
  const { open, close, parts } = b;
  const pre = word.slice(0, open);
  const post = word.slice(close + 1);
  for (const part of parts) {
    if (out.length >= limit) return;
    expandInto(pre + part + post, out, limit, depth + 1);
  }
}

/** The first `{...}` with a comma or a `..` sequence, outermost, honouring marks and nesting. */
function findBrace(word: string): { open: number; close: number; parts: string[] } | null {
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === MARK) {
      i++;
      continue;
    }
    if (c !== '{') continue;
    let depth = 0;
    const commas: number[] = [];
    for (let j = i; j < word.length; j++) {
      const d = word[j];
      if (d === MARK) {
        j++;
        continue;
      }
      if (d === '{') depth++;
      else if (d === '}') {
        depth--;
        if (depth === 0) {
          const inner = word.slice(i + 1, j);
          if (commas.length > 0) {
            const parts: string[] = [];
            let from = i + 1;
            for (const k of commas) {
              parts.push(word.slice(from, k));
              from = k + 1;
            }
            parts.push(word.slice(from, j));
            return { open: i, close: j, parts };
          }
          const seq = sequence(inner);
          if (seq !== null) return { open: i, close: j, parts: seq };
          break;
        }
      } else if (d === ',' && depth === 1) commas.push(j);
    }
  }
  return null;
}

function sequence(inner: string): string[] | null {
  const m = /^(-?\d{1,6})\.\.(-?\d{1,6})$/.exec(inner) ?? /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(inner);
  if (!m) return null;
  const a = m[1] as string;
  const b = m[2] as string;
  const numeric = /\d/.test(a);
  const from = numeric ? Number(a) : a.charCodeAt(0);
  const to = numeric ? Number(b) : b.charCodeAt(0);
  const step = from <= to ? 1 : -1;
  const out: string[] = [];
  for (let v = from; out.length < MAX_BRACE_WORDS; v += step) {
    out.push(numeric ? String(v) : String.fromCharCode(v));
    if (v === to) break;
  }
  return out;
}

/** Tilde prefix of an unquoted word: `~` and `~/x` -> home, `~user/x` -> that user's home. */
export function expandTilde(word: string, home: string): string {
  if (word.charCodeAt(0) !== 126) return word;
  if (word === '~' || word.startsWith('~/')) return home + word.slice(1);
  const slash = word.indexOf('/');
  const user = slash < 0 ? word.slice(1) : word.slice(1, slash);
  if (!/^[A-Za-z0-9._-]+$/.test(user)) return word;
  const base = user === 'root' ? '/root' : join(dirname(home), user);
  return slash < 0 ? base : base + word.slice(slash);
}

/** True when an unquoted word contains glob syntax the shell would expand. */
export function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}
