/**
 * Evaluation of one shell word from the syntax tree into the argument(s) the shell would pass:
 * quotes removed, escapes processed, `$'...'` decoded, known variables substituted, braces and `~`
 * expanded. What cannot be known statically is marked dynamic; data that flows in through variables
 * and command substitutions is carried as sources.
 */
import type { Source } from '../facts.ts';
import type { SyntaxNode } from './grammar.ts';
import {
  decodeAnsiC,
  expandBraces,
  expandTilde,
  MAX_BRACE_WORDS,
  markLiteral,
  unescapeDouble,
  unmark,
} from './text.ts';

/** One argument after expansion. */
export interface Arg {
  text: string;
  dynamic: boolean;
  /** Unquoted glob characters: the shell would expand it against the filesystem. */
  glob: boolean;
  sources: Source[];
  /** The word is a process substitution `<(...)` whose output is known statically. */
  proc?: string;
}

/** A variable's statically known value(s) and the data that flowed into it. */
export interface VarValue {
  values: string[] | null;
  sources: Source[];
}

/** What the word evaluator needs from the analysis: variables and running a substitution. */
export interface WordEnv {
  home: string;
  vars: Map<string, VarValue>;
  /** IFS was reassigned: unquoted expansions split in ways not modelled, so they are dynamic. */
  ifsChanged: boolean;
  /** Runs `$(...)`/backticks/`<(...)`; returns its static output (null if unknown) and sources. */
  substitute(node: SyntaxNode, kind: 'command' | 'process'): { text: string | null; sources: Source[] };
}

interface Part {
  /** Text with literal (quoted/escaped) characters marked for brace expansion. */
  marked: string[];
  dynamic: boolean;
  glob: boolean;
  sources: Source[];
  /** An unquoted expansion: its value is split into fields. */
  split: boolean;
  quotedStart: boolean;
  proc?: string;
}

const MAX_VALUES = MAX_BRACE_WORDS;

function literal(text: string): Part {
  return {
    marked: [markLiteral(text)],
    dynamic: false,
    glob: false,
    sources: [],
    split: false,
    quotedStart: true,
  };
}

/** Unquoted word text: escaped characters become literal, the rest stays syntax. */
function unquotedWord(text: string, home: string, first: boolean): Part {
  let marked = '';
  let glob = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      const n = text[++i] as string;
      if (n !== '\n') marked += `\u0000${n}`;
      continue;
    }
    if (c === '*' || c === '?' || c === '[') glob = true;
    marked += c;
  }
  if (first && marked.startsWith('~')) {
    const end = marked.indexOf('/');
    const head = end < 0 ? marked : marked.slice(0, end);
    if (!head.includes('\u0000'))
      marked = markLiteral(expandTilde(head, home)) + (end < 0 ? '' : marked.slice(end));
  }
  return { marked: [marked], dynamic: false, glob, sources: [], split: false, quotedStart: false };
}

const SIMPLE_BRACED = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const DEFAULTED = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=])([^}]*)\}$/;
const SUBSTRING = /^\$\{([A-Za-z_][A-Za-z0-9_]*):(\d{1,5})(?::(\d{1,5}))?\}$/;

function expansion(node: SyntaxNode, env: WordEnv, quoted: boolean): Part {
  const text = node.text;
  let name: string | undefined;
  let transform: ((v: string) => string) | undefined;
  let fallback: string | undefined;
  if (node.type === 'simple_expansion') {
    name = text.slice(1);
  } else {
    const m = SIMPLE_BRACED.exec(text);
    if (m) name = m[1];
    else {
      const d = DEFAULTED.exec(text);
      if (d) {
        name = d[1];
        fallback = d[3];
      } else {
        const s = SUBSTRING.exec(text);
        if (s) {
          name = s[1];
          const from = Number(s[2]);
          const len = s[3] === undefined ? undefined : Number(s[3]);
          transform = (v) => (len === undefined ? v.slice(from) : v.slice(from, from + len));
        }
      }
    }
  }
  const v = name === undefined ? undefined : env.vars.get(name);
  let values = v?.values ?? null;
  if (values === null && v === undefined && fallback !== undefined && !fallback.includes('$'))
    values = [fallback];
  if (values !== null && transform) values = values.map(transform);
  const dynamic = values === null || (!quoted && env.ifsChanged);
  return {
    marked: dynamic ? [markLiteral(text)] : (values as string[]).map(markLiteral),
    dynamic,
    glob: false,
    sources: v?.sources ?? [],
    split: !quoted,
    quotedStart: quoted,
  };
}

function substitution(node: SyntaxNode, env: WordEnv, quoted: boolean): Part {
  const kind = node.type === 'process_substitution' ? 'process' : 'command';
  const r = env.substitute(node, kind);
  if (kind === 'process') {
    return {
      marked: ['/dev/fd/63'],
      dynamic: false,
      glob: false,
      sources: r.sources,
      split: false,
      quotedStart: false,
      ...(r.text !== null ? { proc: r.text } : {}),
    };
  }
  const text = r.text === null ? null : r.text.replace(/\n+$/, '');
  return {
    marked: [markLiteral(text ?? node.text)],
    dynamic: text === null,
    glob: false,
    sources: r.sources,
    split: !quoted && !env.ifsChanged,
    quotedStart: quoted,
  };
}

function partsOf(node: SyntaxNode, env: WordEnv, first: boolean, out: Part[]): void {
  switch (node.type) {
    case 'word':
    case 'number':
    case 'variable_name':
    case 'file_descriptor':
    case 'heredoc_start':
    case 'special_variable_name':
      out.push(unquotedWord(node.text, env.home, first));
      return;
    case 'raw_string':
      out.push(literal(node.text.slice(1, -1)));
      return;
    case 'ansi_c_string':
      out.push(literal(decodeAnsiC(node.text.slice(2, -1))));
      return;
    case 'translated_string':
    case 'string': {
      const start = out.length;
      for (const c of node.namedChildren) {
        if (c === null) continue;
        if (c.type === 'string_content') out.push(literal(unescapeDouble(c.text)));
        else if (c.type === 'simple_expansion' || c.type === 'expansion') out.push(expansion(c, env, true));
        else if (c.type === 'command_substitution') out.push(substitution(c, env, true));
        else if (c.type === 'string') partsOf(c, env, false, out);
        else out.push({ ...literal(''), dynamic: true });
      }
      if (out.length === start) out.push(literal(''));
      return;
    }
    case 'concatenation': {
      let i = 0;
      for (const c of node.children) {
        if (c === null) continue;
        partsOf(c, env, first && i === 0, out);
        i++;
      }
      return;
    }
    case 'simple_expansion':
    case 'expansion':
      out.push(expansion(node, env, false));
      return;
    case 'command_substitution':
    case 'process_substitution':
      out.push(substitution(node, env, false));
      return;
    case 'brace_expression':
      out.push(unquotedWord(node.text, env.home, first));
      return;
    case 'arithmetic_expansion':
      out.push({ ...literal(node.text), dynamic: true });
      return;
    default:
      if (!node.isNamed) out.push(unquotedWord(node.text, env.home, first));
      else out.push({ ...unquotedWord(node.text, env.home, first), dynamic: node.type === 'ERROR' });
  }
}

/** Evaluates a word node into arguments (several when braces or an unquoted expansion expand). */
export function evalWord(node: SyntaxNode, env: WordEnv): Arg[] {
  const parts: Part[] = [];
  partsOf(node, env, true, parts);
  const dynamic = parts.some((p) => p.dynamic);
  const glob = parts.some((p) => p.glob);
  const sources = parts.flatMap((p) => p.sources);
  const proc = parts.length === 1 ? (parts[0] as Part).proc : undefined;
  if (proc !== undefined) return [{ text: '/dev/fd/63', dynamic: false, glob: false, sources, proc }];
  // A word that is only an unquoted expansion splits into fields (`W='rm -rf ~'; $W`).
  if (parts.length === 1 && (parts[0] as Part).split && !dynamic) {
    const fields = (parts[0] as Part).marked.flatMap((m) =>
      unmark(m)
        .split(/[ \t\n]+/)
        .filter((f) => f !== ''),
    );
    return fields
      .slice(0, MAX_VALUES)
      .map((text) => ({ text, dynamic: false, glob: /[*?[]/.test(text), sources }));
  }
  let combos: string[] = [''];
  for (const p of parts) {
    const next: string[] = [];
    for (const a of combos) for (const m of p.marked) if (next.length < MAX_VALUES) next.push(a + m);
    combos = next;
  }
  const out: Arg[] = [];
  for (const c of combos) {
    for (const text of expandBraces(c)) {
      if (out.length >= MAX_VALUES) break;
      out.push({ text, dynamic, glob, sources });
    }
  }
  return out;
}

/** The static value of an assignment's right-hand side (no splitting, no brace expansion). */
export function evalAssignedValue(node: SyntaxNode | null, env: WordEnv): VarValue {
  if (node === null) return { values: [''], sources: [] };
  const parts: Part[] = [];
  partsOf(node, env, true, parts);
  const sources = parts.flatMap((p) => p.sources);
  if (parts.some((p) => p.dynamic)) return { values: null, sources };
  let combos: string[] = [''];
  for (const p of parts) {
    const next: string[] = [];
    for (const a of combos) for (const m of p.marked) if (next.length < MAX_VALUES) next.push(a + m);
    combos = next;
  }
  return { values: combos.map(unmark), sources };
}
