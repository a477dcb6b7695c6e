/**
 * Raw-text fallback for commands the grammar cannot parse (or that are too large to parse): a linear
 * tokenizer with shell quoting rules that splits the text into simple commands, their words and their
 * redirections. Less precise than the syntax tree (no nesting, substitutions are opaque), but it never
 * fails and it applies the same command semantics afterwards.
 */
import { decodeAnsiC, expandBraces, expandTilde, markLiteral } from './text.ts';
import type { Arg } from './words.ts';

export interface RawRedirect {
  op: string;
  fd: string;
  target: string;
}

export interface RawCommand {
  args: Arg[];
  redirects: RawRedirect[];
  /** This command's stdout feeds the next command (`|`). */
  pipeToNext: boolean;
  /** Here-document body fed to stdin, when there was one. */
  heredoc: string | null;
}

/** Words kept per command: the rest of a huge command's words are skipped, later commands still read. */
export const MAX_WORDS_PER_COMMAND = 4096;

/** Splits shell text into simple commands. Linear in the input; bounded in words. */
export function tokenizeCommands(src: string, home: string): RawCommand[] {
  const cmds: RawCommand[] = [];
  let cur: RawCommand = { args: [], redirects: [], pipeToNext: false, heredoc: null };
  let word = '';
  let inWord = false;
  let dynamic = false;
  let glob = false;
  let firstQuoted = false;
  let pendingRedirect: { op: string; fd: string } | null = null;
  let pendingHeredoc: { delim: string; strip: boolean } | null = null;
  const heredocs: { cmd: RawCommand; delim: string; strip: boolean }[] = [];
  const n = src.length;

  const flushWord = () => {
    if (!inWord) return;
    if (pendingHeredoc) {
      heredocs.push({ cmd: cur, delim: stripMarks(word), strip: pendingHeredoc.strip });
      pendingHeredoc = null;
    } else if (pendingRedirect) {
      cur.redirects.push({ ...pendingRedirect, target: stripMarks(word) });
      pendingRedirect = null;
    } else {
      const expanded = firstQuoted ? [word] : expandBraces(word);
      for (let text of expanded) {
        if (cur.args.length >= MAX_WORDS_PER_COMMAND) break;
        if (!firstQuoted && text.startsWith('~')) text = expandTilde(text, home);
        cur.args.push({ text, dynamic, glob, sources: [] });
      }
    }
    word = '';
    inWord = false;
    dynamic = false;
    glob = false;
    firstQuoted = false;
  };
  const endCommand = (pipe: boolean) => {
    flushWord();
    if (cur.args.length > 0 || cur.redirects.length > 0) {
      cur.pipeToNext = pipe;
      cmds.push(cur);
    }
    cur = { args: [], redirects: [], pipeToNext: false, heredoc: null };
  };
  const addLiteral = (s: string) => {
    if (!inWord) firstQuoted = true;
    word += markLiteral(s);
    inWord = true;
  };

  let i = 0;
  while (i < n) {
    const c = src[i] as string;
    if (c === '\n') {
      endCommand(false);
      i++;
      for (const h of heredocs.splice(0)) {
        let body = '';
        while (i < n) {
          let end = src.indexOf('\n', i);
          if (end < 0) end = n;
          const line = src.slice(i, end);
          i = end + 1;
          if ((h.strip ? line.replace(/^\t+/, '') : line) === h.delim) break;
          body += `${line}\n`;
        }
        h.cmd.heredoc = body;
      }
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      flushWord();
      i++;
      continue;
    }
    if (c === '#' && !inWord) {
      const end = src.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '\\') {
      if (i + 1 < n && src[i + 1] !== '\n') addLiteral(src[i + 1] as string);
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      const stop = end < 0 ? n : end;
      addLiteral(src.slice(i + 1, stop));
      i = stop + 1;
      continue;
    }
    if (c === '$' && src[i + 1] === "'") {
      let j = i + 2;
      while (j < n && src[j] !== "'") j += src[j] === '\\' ? 2 : 1;
      addLiteral(decodeAnsiC(src.slice(i + 2, Math.min(j, n))));
      i = j + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < n && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < n && '$`"\\\n'.includes(src[j + 1] as string)) {
          if (src[j + 1] !== '\n') s += src[j + 1];
          j += 2;
          continue;
        }
        if (src[j] === '$' || src[j] === '`') dynamic = true;
        s += src[j];
        j++;
      }
      addLiteral(s);
      i = j + 1;
      continue;
    }
    if (c === '`' || (c === '$' && src[i + 1] === '(')) {
      // Substitutions are opaque here: their inside is scanned as commands of its own.
      endCommand(false);
      i += c === '`' ? 1 : 2;
      continue;
    }
    if (c === ')' || c === '(' || c === '{' || c === '}') {
      if (c === '{' && (inWord || (src[i + 1] !== ' ' && src[i + 1] !== '\n'))) {
        word += c;
        inWord = true;
        i++;
        continue;
      }
      if (c === '}' && inWord) {
        word += c;
        i++;
        continue;
      }
      endCommand(false);
      i++;
      continue;
    }
    if (c === ';' || c === '&' || c === '|') {
      if (c === '&' && src[i + 1] === '>') {
        flushWord();
        const op = src[i + 2] === '>' ? '&>>' : '&>';
        pendingRedirect = { op, fd: '' };
        i += op.length;
        continue;
      }
      const pipe = c === '|' && src[i + 1] !== '|';
      endCommand(pipe);
      i += (c === '|' || c === '&') && src[i + 1] === c ? 2 : 1;
      continue;
    }
    if (c === '<' || c === '>') {
      let fd = '';
      if (inWord && /^\d+$/.test(word)) {
        fd = word;
        word = '';
        inWord = false;
      } else flushWord();
      let j = i + 1;
      let op = c;
      if (c === '<' && src[j] === '<') {
        if (src[j + 1] === '<') {
          pendingRedirect = { op: '<<<', fd };
          i = j + 2;
          continue;
        }
        j++;
        const strip = src[j] === '-';
        if (strip) j++;
        pendingHeredoc = { delim: '', strip };
        i = j;
        continue;
      }
      if (src[j] === '>' || src[j] === '|' || src[j] === '&') {
        op += src[j];
        j++;
      }
      if (op.endsWith('&')) {
        let k = j;
        while (k < n && /[0-9-]/.test(src[k] as string)) k++;
        if (k > j) {
          cur.redirects.push({ op, fd, target: src.slice(j, k) });
          i = k;
          continue;
        }
      }
      pendingRedirect = { op, fd };
      i = j;
      continue;
    }
    if (c === '$') dynamic = true;
    if (c === '*' || c === '?' || c === '[') glob = true;
    word += c;
    inWord = true;
    i++;
  }
  endCommand(false);
  return cmds;
}

/** Removes the literal marks brace expansion uses (the marked characters themselves stay). */
function stripMarks(s: string): string {
  return s.split('\u0000').join('');
}
