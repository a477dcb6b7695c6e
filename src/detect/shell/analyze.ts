/**
 * Shell command -> facts. The syntax tree gives structure (lists, pipelines, substitutions, heredocs,
 * redirections); each simple command's words are evaluated (words.ts) and then interpreted the way the
 * shell and the command would: wrappers stripped (sudo, env, timeout, xargs, find -exec...), nested
 * shell code followed (`bash -c`, eval, heredocs and pipes into a shell, decoded base64), options
 * normalized, paths classified by how the command uses them, network destinations and the data sent
 * there recorded, and data flow traced from sources (files, environment, downloads, decoders) to sinks.
 */
import { basename } from 'node:path';
import { redactString } from '../../ingest/redact.ts';
import type { CommandFacts, NetFact, PathFact, Segment, SinkKind, Source } from '../facts.ts';
import { emptyFacts } from '../facts.ts';
import { canonicalPath, type PathContext, pathFact, probesMatching } from '../paths.ts';
import {
  CLIPBOARD,
  DATA_ONLY,
  DELETERS,
  DNS_TOOLS,
  ENV_DUMPERS,
  expandLongOption,
  IDENTITY,
  INTERPRETERS,
  isLocalHost,
  longTakesValue,
  NETWORK_TOOLS,
  operandAccess,
  READERS,
  SHELLS,
  shortTakesValue,
} from './commands.ts';
import { type RawCommand, tokenizeCommands } from './fallback.ts';
import type { BashParser, SyntaxNode } from './grammar.ts';
import { decodeAnsiC } from './text.ts';
import { type Arg, evalAssignedValue, evalWord, type VarValue, type WordEnv } from './words.ts';

export interface AnalyzeOptions extends PathContext {
  /** Sensitive paths (`~/.ssh/id_rsa`...) that glob operands are checked against. */
  probes: readonly string[];
  /** Wall-clock budget for one command, ms. */
  budgetMs?: number;
}

/** Commands longer than this are not parsed; the raw-text fallback scans them. */
export const MAX_PARSE_CHARS = 128 * 1024;
/** Shell-in-shell evaluation deeper than this stops (and is reported). */
export const MAX_DEPTH = 16;
const MAX_SEGMENTS = 4096;
const ASSIGNMENT_WORD = /^[A-Za-z_][A-Za-z0-9_]*=/;
/** No quoting, expansion, globbing, grouping or here-documents: nothing the tokenizer could misread. */
const PLAIN_COMMAND = /^[\w./:=,@%+\- ]*(?:(?:\|\|?|&&|;|[12]?>>?|2>&1|&>)[\w./:=,@%+\- ]*)*$/;
const MAX_DECODED = 64 * 1024;

interface Input {
  text: string | null;
  sources: Source[];
  kind: Segment['stdin'];
}
const NO_INPUT: Input = { text: null, sources: [], kind: 'none' };

interface Output {
  text: string | null;
  sources: Source[];
}
const NOTHING: Output = { text: null, sources: [] };

interface Redirect {
  op: string;
  fd: string;
  target: Arg | null;
  /** heredoc or herestring text */
  body: string | null;
  bodySources: Source[];
}

interface Scope {
  cwd: string | null;
  vars: Map<string, VarValue>;
  ifsChanged: boolean;
  /** File descriptors opened onto the network (`exec 3<>/dev/tcp/h/p`). */
  netFds: Map<string, NetFact>;
}

interface Frame {
  depth: number;
  via: string[];
  wrappers: string[];
}

export function analyzeCommand(raw: string, opts: AnalyzeOptions, parser?: BashParser): CommandFacts {
  return new Analysis(raw, opts, parser).run();
}

class Analysis {
  readonly facts: CommandFacts;
  private readonly deadline: number;
  private readonly scope: Scope;

  constructor(
    raw: string,
    private readonly opts: AnalyzeOptions,
    private readonly parser: BashParser | undefined,
  ) {
    this.facts = emptyFacts(raw);
    this.deadline = performance.now() + (opts.budgetMs ?? 40);
    const vars = new Map<string, VarValue>();
    vars.set('HOME', { values: [opts.home], sources: [] });
    if (opts.cwd !== null) vars.set('PWD', { values: [opts.cwd], sources: [] });
    this.scope = { cwd: opts.cwd, vars, ifsChanged: false, netFds: new Map() };
  }

  run(): CommandFacts {
    let src = this.facts.raw;
    // A NUL cannot be part of a shell command; it is how truncation tricks hide the rest.
    if (src.includes('\u0000')) {
      this.facts.parseError = true;
      src = src.split('\u0000').join(' ');
    }
    this.evalText(src, { depth: 0, via: [], wrappers: [] }, NO_INPUT);
    return this.facts;
  }

  private ticks = 0;

  /** Out of time or segments; the clock is read every 32 calls (it costs more than the check). */
  private overBudget(): boolean {
    if (this.facts.segments.length >= MAX_SEGMENTS) return true;
    if ((++this.ticks & 31) !== 0) return false;
    return performance.now() > this.deadline;
  }

  /** Shell text (top level or nested) -> facts; returns its stdout. */
  private evalText(text: string, frame: Frame, input: Input): Output {
    if (frame.depth > MAX_DEPTH) {
      this.facts.tooDeep = true;
      return NOTHING;
    }
    if (this.overBudget()) {
      this.facts.oversized = true;
      return NOTHING;
    }
    // Words, pipes, lists and plain redirections only: the tokenizer reads these exactly like the grammar.
    if (text.length > MAX_PARSE_CHARS || this.parser === undefined || PLAIN_COMMAND.test(text)) {
      if (text.length > MAX_PARSE_CHARS) this.facts.oversized = true;
      if (this.parser === undefined && !PLAIN_COMMAND.test(text)) this.facts.fallbackOnly = true;
      return this.evalFallback(text, frame, input);
    }
    const parsed = this.parser.parse(text);
    if (parsed === null) return this.evalFallback(text, frame, input);
    try {
      if (parsed.root.hasError) {
        this.facts.parseError = true;
        // The tree is still walked (it holds what did parse); the tokenizer adds what it could not.
        this.evalFallback(text, frame, input);
      }
      return this.visit(parsed.root, frame, input, this.scope);
    } finally {
      parsed.dispose();
    }
  }

  // ---- syntax tree ---------------------------------------------------------------------------------

  private visit(node: SyntaxNode, frame: Frame, input: Input, scope: Scope): Output {
    if (this.overBudget()) return NOTHING;
    switch (node.type) {
      case 'command':
        return this.visitCommand(node, frame, input, scope, []);
      case 'pipeline':
        return this.visitPipeline(node.namedChildren.filter(isStatement), frame, input, scope);
      case 'redirected_statement':
        return this.visitRedirected(node, frame, input, scope);
      case 'variable_assignment':
        this.assign(node, scope, frame);
        return NOTHING;
      case 'variable_assignments':
        for (const c of node.namedChildren)
          if (c?.type === 'variable_assignment') this.assign(c, scope, frame);
        return NOTHING;
      case 'declaration_command':
        return this.visitDeclaration(node, frame, scope);
      case 'unset_command': {
        const args = node.namedChildren.flatMap((c) => (c ? this.words(c, frame, scope) : []));
        return this.runArgv(
          [{ text: 'unset', dynamic: false, glob: false, sources: [] }, ...args],
          frame,
          NO_INPUT,
          [],
          [],
          scope,
        );
      }
      case 'subshell': {
        const inner: Scope = { ...scope, vars: new Map(scope.vars), netFds: new Map(scope.netFds) };
        return this.visitSequence(node.namedChildren, frame, input, inner);
      }
      case 'for_statement': {
        const variable = node.childForFieldName('variable');
        const values = node.childrenForFieldName('value').flatMap((v) => this.words(v, frame, scope));
        if (variable !== null) {
          const known = values.every((v) => !v.dynamic);
          scope.vars.set(variable.text, {
            values: known && values.length > 0 ? values.map((v) => v.text) : null,
            sources: values.flatMap((v) => v.sources),
          });
        }
        const body = node.childForFieldName('body');
        return body ? this.visit(body, frame, NO_INPUT, scope) : NOTHING;
      }
      case 'comment':
      case 'heredoc_body':
      case 'heredoc_end':
        return NOTHING;
      case 'ERROR':
        this.facts.parseError = true;
        return this.visitSequence(node.namedChildren, frame, input, scope);
      case 'command_substitution':
      case 'process_substitution':
        this.visitSequence(
          node.namedChildren,
          { ...frame, via: [...frame.via, 'substitution'] },
          NO_INPUT,
          scope,
        );
        return NOTHING;
      default:
        if (node.type.endsWith('_expansion') || node.type === 'string' || node.type === 'concatenation') {
          this.words(node, frame, scope);
          return NOTHING;
        }
        return this.visitSequence(node.namedChildren, frame, input, scope);
    }
  }

  private visitSequence(nodes: (SyntaxNode | null)[], frame: Frame, input: Input, scope: Scope): Output {
    let last: Output = NOTHING;
    let first = true;
    const sources: Source[] = [];
    for (const c of nodes) {
      if (c === null || c.type === 'comment') continue;
      last = this.visit(c, frame, first ? input : NO_INPUT, scope);
      sources.push(...last.sources);
      first = false;
    }
    return { text: last.text, sources };
  }

  private visitPipeline(stages: SyntaxNode[], frame: Frame, input: Input, scope: Scope): Output {
    let carry = input;
    let out: Output = NOTHING;
    let prevLast = -1;
    for (const stage of stages) {
      const before = this.facts.segments.length;
      out = this.visit(stage, frame, carry, scope);
      const after = this.facts.segments.length;
      if (after > before) {
        const firstSeg = this.facts.segments[before] as Segment;
        if (prevLast >= 0) {
          const p = this.facts.segments[prevLast] as Segment;
          p.pipeTo = firstSeg.argv0;
          firstSeg.pipeFrom = p.argv0;
        }
        prevLast = after - 1;
      }
      carry = { text: out.text, sources: out.sources, kind: 'pipe' };
    }
    return out;
  }

  private visitRedirected(node: SyntaxNode, frame: Frame, input: Input, scope: Scope): Output {
    const body = node.childForFieldName('body');
    const redirects: Redirect[] = [];
    const continuation: SyntaxNode[] = [];
    for (const r of node.childrenForFieldName('redirect'))
      this.redirectOf(r, frame, scope, redirects, continuation);
    if (body === null) return NOTHING;
    let out: Output;
    // `a && b <<EOF` parses as a redirection of the whole list; the shell gives it to `b` only.
    let target = body;
    while (target.type === 'list' && target.namedChildCount > 0) {
      const parts = target.namedChildren.filter(isStatement);
      const last = parts.pop();
      if (last === undefined) break;
      this.visitSequence(parts, frame, input, scope);
      target = last;
    }
    if (target.type === 'command') out = this.visitCommand(target, frame, input, scope, redirects);
    else if (target !== body) out = this.visitRedirectedBody(target, redirects, frame, input, scope);
    else {
      out = this.visitRedirectedBody(body, redirects, frame, input, scope);
    }
    // `cat <<EOF | sh`: the pipeline after the heredoc start belongs to the redirected command.
    for (const c of continuation) out = this.visitPipelineTail(c, frame, out, scope);
    return out;
  }

  /** A compound statement with redirections: they apply to every command in it. */
  private visitRedirectedBody(
    body: SyntaxNode,
    redirects: Redirect[],
    frame: Frame,
    input: Input,
    scope: Scope,
  ): Output {
    const inp = this.stdinFrom(redirects, input, scope, frame);
    const before = this.facts.segments.length;
    const out = this.visit(body, frame, inp, scope);
    for (const seg of this.facts.segments.slice(before))
      this.applyOutputRedirects(seg, redirects, out, frame, scope);
    return redirects.some(isStdoutRedirect) ? NOTHING : out;
  }

  private visitPipelineTail(node: SyntaxNode, frame: Frame, from: Output, scope: Scope): Output {
    const stages = node.type === 'pipeline' ? node.namedChildren.filter(isStatement) : [node];
    const last = this.facts.segments.length - 1;
    const before = this.facts.segments.length;
    const out = this.visitPipeline(
      stages,
      frame,
      { text: from.text, sources: from.sources, kind: 'pipe' },
      scope,
    );
    const first = this.facts.segments[before];
    const prev = this.facts.segments[last];
    if (first && prev) {
      prev.pipeTo = first.argv0;
      first.pipeFrom = prev.argv0;
    }
    return out;
  }

  private redirectOf(
    r: SyntaxNode,
    frame: Frame,
    scope: Scope,
    out: Redirect[],
    continuation: SyntaxNode[],
  ): void {
    const fdNode = r.childForFieldName('descriptor');
    const fd = fdNode?.text ?? '';
    if (r.type === 'heredoc_redirect') {
      let bodyText = '';
      let quoted = false;
      const sources: Source[] = [];
      for (const c of r.namedChildren) {
        if (c === null) continue;
        if (c.type === 'heredoc_start') quoted = /['"\\]/.test(c.text);
        else if (c.type === 'heredoc_body') {
          bodyText = c.text;
          // An unquoted heredoc runs its substitutions.
          if (!quoted) {
            for (const sub of c.namedChildren) {
              if (
                sub &&
                (sub.type === 'command_substitution' ||
                  sub.type === 'expansion' ||
                  sub.type === 'simple_expansion')
              ) {
                const w = this.words(sub, frame, scope);
                sources.push(...w.flatMap((a) => a.sources));
              }
            }
          }
        } else if (c.type !== 'heredoc_end' && c.type !== 'file_redirect' && isStatement(c))
          continuation.push(c);
        else if (c.type === 'file_redirect') this.redirectOf(c, frame, scope, out, continuation);
      }
      out.push({ op: '<<', fd, target: null, body: bodyText, bodySources: sources });
      return;
    }
    if (r.type === 'herestring_redirect') {
      const word = r.namedChildren.find((c) => c !== null && c.type !== 'file_descriptor') ?? null;
      const args = word ? this.words(word, frame, scope) : [];
      const text = args.some((a) => a.dynamic) ? null : `${args.map((a) => a.text).join(' ')}\n`;
      out.push({
        op: '<<<',
        fd,
        target: null,
        body: text,
        bodySources: [{ kind: 'literal', value: '' }, ...args.flatMap((a) => a.sources)],
      });
      return;
    }
    if (r.type !== 'file_redirect') return;
    let op = '';
    for (const c of r.children) {
      if (c && !c.isNamed && /^[<>&|]+$/.test(c.type)) op += c.type;
      else if (c?.type === 'ERROR' && /^[<>&|]+$/.test(c.text)) op += c.text;
    }
    const dests = r.childrenForFieldName('destination');
    const dest = dests[0];
    if (dest === undefined) return;
    const target = this.words(dest, frame, scope)[0] ?? null;
    out.push({ op: op || '>', fd, target, body: null, bodySources: [] });
  }

  private stdinFrom(redirects: Redirect[], input: Input, scope: Scope, frame: Frame): Input {
    let inp = input;
    for (const r of redirects) {
      if (r.op === '<<' || r.op === '<<<') {
        inp = { text: r.body, sources: r.bodySources, kind: r.op === '<<' ? 'heredoc' : 'herestring' };
      } else if ((r.op === '<' || r.op === '<>') && r.target && (r.fd === '' || r.fd === '0')) {
        const p = this.canonical(r.target.text, scope);
        if (p?.startsWith('/dev/tcp/')) continue;
        inp = {
          text: null,
          sources: r.target.dynamic || p === null ? [] : [{ kind: 'path', value: p }],
          kind: 'file',
        };
        void frame;
      }
    }
    return inp;
  }

  private visitDeclaration(node: SyntaxNode, frame: Frame, scope: Scope): Output {
    const keyword = node.child(0)?.type ?? 'declare';
    const args: Arg[] = [{ text: keyword, dynamic: false, glob: false, sources: [] }];
    for (const c of node.namedChildren) {
      if (c === null) continue;
      if (c.type === 'variable_assignment') {
        this.assign(c, scope, frame);
        const name = c.childForFieldName('name')?.text ?? '';
        const v = scope.vars.get(name);
        const value = v?.values?.join(' ') ?? '';
        args.push({
          text: `${name}=${value}`,
          dynamic: v?.values === null,
          glob: false,
          sources: v?.sources ?? [],
        });
      } else args.push(...this.words(c, frame, scope));
    }
    return this.runArgv(args, frame, NO_INPUT, [], [], scope);
  }

  private assign(node: SyntaxNode, scope: Scope, frame: Frame): void {
    const name = node.childForFieldName('name')?.text;
    if (name === undefined) return;
    const value = this.assignedValue(node.childForFieldName('value'), frame, scope);
    scope.vars.set(name, value);
    if (name === 'IFS') scope.ifsChanged = true;
  }

  private assignedValue(node: SyntaxNode | null, frame: Frame, scope: Scope): VarValue {
    return evalAssignedValue(node, this.wordEnv(frame, scope));
  }

  private envFrame: Frame | undefined;
  private envScope: Scope | undefined;
  private envCached: WordEnv | undefined;

  private wordEnv(frame: Frame, scope: Scope): WordEnv {
    if (
      this.envCached &&
      this.envFrame === frame &&
      this.envScope === scope &&
      this.envCached.ifsChanged === scope.ifsChanged
    )
      return this.envCached;
    this.envFrame = frame;
    this.envScope = scope;
    this.envCached = this.makeWordEnv(frame, scope);
    return this.envCached;
  }

  private makeWordEnv(frame: Frame, scope: Scope): WordEnv {
    return {
      home: this.opts.home,
      vars: scope.vars,
      ifsChanged: scope.ifsChanged,
      substitute: (node, kind) => {
        const inner: Frame = {
          ...frame,
          via: [...frame.via, kind === 'process' ? 'process-substitution' : 'substitution'],
        };
        const sub: Scope = { ...scope, vars: new Map(scope.vars) };
        const out = this.visitSequence(
          node.namedChildren.filter((c) => c !== null && isStatement(c)),
          inner,
          NO_INPUT,
          sub,
        );
        return out;
      },
    };
  }

  private words(node: SyntaxNode, frame: Frame, scope: Scope): Arg[] {
    return evalWord(node, this.wordEnv(frame, scope));
  }

  private visitCommand(
    node: SyntaxNode,
    frame: Frame,
    input: Input,
    scope: Scope,
    outer: Redirect[],
  ): Output {
    const env: string[] = [];
    const argv: Arg[] = [];
    const redirects: Redirect[] = [...outer];
    const continuation: SyntaxNode[] = [];
    for (let i = 0; i < node.childCount; i++) {
      const c = node.child(i);
      if (c === null) continue;
      const field = node.fieldNameForChild(i);
      if (c.type === 'variable_assignment') {
        const name = c.childForFieldName('name')?.text ?? '';
        env.push(name);
        argv.length === 0 && env.length > 0 && void 0;
      } else if (c.type.endsWith('_redirect')) this.redirectOf(c, frame, scope, redirects, continuation);
      else if (field === 'name' || field === 'argument' || c.type === 'command_name') {
        const w = c.type === 'command_name' ? (c.namedChild(0) ?? c) : c;
        const words = this.words(w, frame, scope);
        // The grammar glues a line that starts with a backslash to the previous command (`a\n\\rm x`):
        // the shell runs it as a command of its own.
        if (argv.length > 0 && w.type === 'word' && w.text.startsWith('\n') && words[0]) {
          this.runArgv(argv.splice(0), frame, NO_INPUT, [], env.splice(0), scope);
          words[0] = { ...words[0], text: words[0].text.replace(/^\n+/, '') };
        }
        argv.push(...words);
      }
    }
    let out = this.runArgv(
      argv,
      frame,
      this.stdinFrom(redirects, input, scope, frame),
      redirects,
      env,
      scope,
    );
    for (const c of continuation) out = this.visitPipelineTail(c, frame, out, scope);
    return out;
  }

  // ---- fallback ----------------------------------------------------------------------------------

  private evalFallback(text: string, frame: Frame, input: Input): Output {
    const cmds = tokenizeCommands(text, this.opts.home);
    let carry = input;
    let out: Output = NOTHING;
    let prev: Segment | undefined;
    for (const cmd of cmds) {
      if (this.overBudget()) break;
      const redirects = this.rawRedirects(cmd);
      const before = this.facts.segments.length;
      const inp = this.stdinFrom(redirects, carry, this.scope, frame);
      if (cmd.args.length === 0) continue;
      out = this.runArgv(cmd.args, frame, inp, redirects, [], this.scope);
      const first = this.facts.segments[before];
      if (prev && first && carry.kind === 'pipe') {
        prev.pipeTo = first.argv0;
        first.pipeFrom = prev.argv0;
      }
      prev = this.facts.segments[this.facts.segments.length - 1];
      carry = cmd.pipeToNext ? { text: out.text, sources: out.sources, kind: 'pipe' } : NO_INPUT;
    }
    return out;
  }

  private rawRedirects(cmd: RawCommand): Redirect[] {
    const out: Redirect[] = cmd.redirects.map((r) => ({
      op: r.op === '<<<' ? '<<<' : r.op,
      fd: r.fd,
      target:
        r.op === '<<<' ? null : { text: r.target, dynamic: r.target.includes('$'), glob: false, sources: [] },
      body: r.op === '<<<' ? `${r.target}\n` : null,
      bodySources: r.op === '<<<' ? [{ kind: 'literal' as const, value: '' }] : [],
    }));
    if (cmd.heredoc !== null)
      out.push({ op: '<<', fd: '', target: null, body: cmd.heredoc, bodySources: [] });
    return out;
  }

  // ---- command semantics -------------------------------------------------------------------------

  /** Strips wrappers, follows nested shell code and records the simple command that runs. */
  private runArgv(
    argv: Arg[],
    frame: Frame,
    input: Input,
    redirects: Redirect[],
    env: string[],
    scope: Scope,
  ): Output {
    let items = argv;
    // Leading NAME=value words (the tokenizer does not separate them): assignments or command env.
    let k = 0;
    while (k < items.length && ASSIGNMENT_WORD.test((items[k] as Arg).text)) k++;
    if (k > 0) {
      const assigned = items.slice(0, k);
      items = items.slice(k);
      for (const a of assigned) {
        const name = a.text.slice(0, a.text.indexOf('='));
        if (items.length > 0) env.push(name);
        else {
          scope.vars.set(name, {
            values: a.dynamic ? null : [a.text.slice(name.length + 1)],
            sources: a.sources,
          });
          if (name === 'IFS') scope.ifsChanged = true;
        }
      }
    }
    const wrappers = [...frame.wrappers];
    const via = frame.via;
    for (let guard = 0; guard < 32 && items.length > 0; guard++) {
      const a0 = items[0] as Arg;
      if (a0.dynamic) break;
      const name = basename(a0.text);
      const rest = items.slice(1);
      const next = this.unwrap(name, rest, { ...frame, wrappers }, input, scope, redirects, env);
      if (next === null) break;
      if ('done' in next) return next.done;
      wrappers.push(next.wrapper);
      items = next.items;
    }
    if (items.length === 0) {
      // Only assignments and redirections (`x=1`, `exec 3<>/dev/tcp/...`, `> file`).
      for (const name of env) {
        const v = scope.vars.get(name);
        void v;
      }
      this.openNetFds(redirects, scope);
      return NOTHING;
    }
    return this.simple(items, { ...frame, wrappers }, input, redirects, env, scope, via);
  }

  /**
   * One wrapper layer: returns the words of the wrapped command, `done` when the wrapper ran nested
   * code itself, or null when `name` is not a wrapper.
   */
  private unwrap(
    name: string,
    rest: Arg[],
    frame: Frame,
    input: Input,
    scope: Scope,
    redirects: Redirect[],
    env: string[],
  ): { items: Arg[]; wrapper: string } | { done: Output } | null {
    switch (name) {
      case 'sudo':
      case 'doas':
      case 'pkexec':
      case 'runuser': {
        const { flags, remaining } = skipOptions(name, rest);
        if (remaining.length === 0) return null;
        return {
          items: remaining,
          wrapper: flags.includes('-S') || flags.includes('--stdin') ? `${name} -S` : name,
        };
      }
      case 'su': {
        const i = rest.findIndex((a) => a.text === '-c' || a.text === '--command');
        if (i < 0 || rest[i + 1] === undefined) return null;
        const code = rest[i + 1] as Arg;
        this.record(['su'], rest, frame, input, redirects, env, scope);
        return { done: this.nested(code, { ...frame, wrappers: [...frame.wrappers, 'su'] }, 'su -c', input) };
      }
      case 'env': {
        let i = 0;
        const items: Arg[] = [];
        while (i < rest.length) {
          const t = (rest[i] as Arg).text;
          if (t === '-i' || t === '-0' || t === '--ignore-environment' || t === '-') i++;
          else if (t === '-u' || t === '-C' || t === '--unset' || t === '--chdir') i += 2;
          else if (t === '-S' || t === '--split-string') {
            const s = rest[i + 1];
            if (s) for (const w of s.text.split(/\s+/).filter(Boolean)) items.push({ ...s, text: w });
            i += 2;
          } else if (t.startsWith('-S')) {
            for (const w of t.slice(2).split(/\s+/).filter(Boolean))
              items.push({ ...(rest[i] as Arg), text: w });
            i++;
          } else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) {
            env.push(t.slice(0, t.indexOf('=')));
            i++;
          } else if (t === '--') {
            i++;
            break;
          } else if (t.startsWith('-')) i++;
          else break;
        }
        const remaining = [...items, ...rest.slice(i)];
        if (remaining.length === 0) return null;
        return { items: remaining, wrapper: 'env' };
      }
      case 'nice':
      case 'nohup':
      case 'time':
      case 'stdbuf':
      case 'ionice':
      case 'setsid':
      case 'unbuffer':
      case 'builtin':
      case 'caffeinate':
      case 'torsocks':
      case 'proxychains':
      case 'proxychains4':
      case 'catchsegv':
      case 'chronic':
      case 'faketime':
      case 'strace':
      case 'ltrace':
      case 'gtimeout':
      case 'timeout':
      case 'chrt':
      case 'taskset':
      case 'exec':
      case 'command': {
        if (name === 'command' && rest.some((a) => a.text === '-v' || a.text === '-V')) return null;
        const { remaining } = skipOptions(name, rest);
        let items = remaining;
        // timeout DURATION cmd, chrt PRIO cmd, taskset MASK cmd, faketime TIME cmd
        if (['timeout', 'gtimeout', 'chrt', 'taskset', 'faketime'].includes(name)) items = items.slice(1);
        if (items.length === 0) return null;
        return { items, wrapper: name };
      }
      case 'busybox':
        if (rest.length === 0) return null;
        return { items: rest, wrapper: 'busybox' };
      case 'xargs':
        return { items: this.xargsCommand(rest, input), wrapper: 'xargs' };
      case 'parallel': {
        const sep = rest.findIndex((a) => a.text === ':::' || a.text === '::::');
        const { remaining } = skipOptions('parallel', sep < 0 ? rest : rest.slice(0, sep));
        const values = sep < 0 ? this.stdinWords(input) : rest.slice(sep + 1);
        return { items: substitutePlaceholder(remaining, '{}', values), wrapper: 'parallel' };
      }
      case 'watch': {
        const { remaining } = skipOptions('watch', rest);
        if (remaining.length === 0) return null;
        this.record(['watch'], rest, frame, input, redirects, env, scope);
        return { done: this.nested(joinArgs(remaining), frame, 'watch', NO_INPUT) };
      }
      case 'flock': {
        const c = rest.findIndex((a) => a.text === '-c' || a.text === '--command');
        if (c >= 0 && rest[c + 1]) return { done: this.nested(rest[c + 1] as Arg, frame, 'flock -c', input) };
        const { remaining } = skipOptions('flock', rest);
        if (remaining.length < 2) return null;
        return { items: remaining.slice(1), wrapper: 'flock' };
      }
      case 'script': {
        const c = rest.findIndex((a) => a.text === '-c' || a.text === '--command');
        if (c < 0 || !rest[c + 1]) return null;
        return { done: this.nested(rest[c + 1] as Arg, frame, 'script -c', input) };
      }
      case 'eval': {
        const seg = this.record(['eval'], rest, frame, input, redirects, env, scope);
        this.sink(
          seg,
          'shell',
          false,
          rest.flatMap((a) => a.sources),
          input,
        );
        return { done: this.nested(joinArgs(rest), frame, 'eval', input) };
      }
      default:
        return null;
    }
  }

  private stdinWords(input: Input): Arg[] {
    if (input.text === null) return [{ text: '', dynamic: true, glob: false, sources: input.sources }];
    return input.text
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 256)
      .map((text) => ({ text, dynamic: false, glob: /[*?[]/.test(text), sources: input.sources }));
  }

  private xargsCommand(rest: Arg[], input: Input): Arg[] {
    let i = 0;
    let replace: string | null = null;
    while (i < rest.length) {
      const t = (rest[i] as Arg).text;
      if (t === '-I' || t === '--replace') {
        replace = rest[i + 1]?.text ?? '{}';
        i += 2;
      } else if (t.startsWith('-I') && t.length > 2) {
        replace = t.slice(2);
        i++;
      } else if (/^-[nPLsdEa]$/.test(t) || /^--(max-args|max-procs|delimiter|arg-file|max-lines)$/.test(t))
        i += 2;
      else if (t.startsWith('-')) i++;
      else break;
    }
    const cmd = rest.slice(i);
    const values = this.stdinWords(input);
    if (cmd.length === 0) cmd.push({ text: 'echo', dynamic: false, glob: false, sources: [] });
    return replace !== null ? substitutePlaceholder(cmd, replace, values) : [...cmd, ...values];
  }

  /** Runs nested shell code given as an argument (`bash -c ARG`, eval, su -c, ssh host CMD). */
  private nested(code: Arg, frame: Frame, how: string, input: Input): Output {
    if (code.dynamic) {
      this.facts.dynamic = true;
      return NOTHING;
    }
    return this.evalText(
      code.text,
      { depth: frame.depth + 1, via: [...frame.via, how], wrappers: frame.wrappers },
      input,
    );
  }

  /** Records a segment for a command that is also followed into (eval, su -c, watch). */
  private record(
    argv0: string[],
    rest: Arg[],
    frame: Frame,
    input: Input,
    redirects: Redirect[],
    env: string[],
    scope: Scope,
  ): Segment {
    const items: Arg[] = [
      ...argv0.map((text) => ({ text, dynamic: false, glob: false, sources: [] })),
      ...rest,
    ];
    const seg = this.newSegment(items, frame, input, env, scope);
    this.applyOutputRedirects(seg, redirects, NOTHING, frame, scope);
    return seg;
  }

  private newSegment(items: Arg[], frame: Frame, input: Input, env: string[], scope: Scope): Segment {
    const a0 = items[0] as Arg;
    const argv0 = a0.dynamic ? '' : basename(a0.text);
    const args = items.slice(1).map((a) => a.text);
    const parsed = parseOptions(argv0, args);
    const seg: Segment = {
      argv0,
      path0: a0.text,
      args,
      flags: parsed.flags,
      operands: parsed.operands,
      sub: parsed.operands[0] ?? '',
      sub2: parsed.operands[1] ?? '',
      wrappers: frame.wrappers,
      via: frame.via,
      dynamicArgv0: a0.dynamic,
      dynamicArgs: items.slice(1).some((a) => a.dynamic),
      writes: [],
      reads: [],
      stdin: input.kind,
      pipeFrom: '',
      pipeTo: '',
      env: [...env],
      code: '',
      depth: frame.depth,
    };
    if (seg.dynamicArgv0) this.facts.dynamic = true;
    this.facts.segments.push(seg);
    void scope;
    return seg;
  }

  /** The simple command that actually runs. */
  private simple(
    items: Arg[],
    frame: Frame,
    input: Input,
    redirects: Redirect[],
    env: string[],
    scope: Scope,
    via: string[],
  ): Output {
    void via;
    const a0 = items[0] as Arg;
    let argv0 = a0.dynamic ? '' : basename(a0.text);
    // git: global options, aliases defined with -c, and long option abbreviations.
    if (argv0 === 'git') {
      const alias = gitAlias(items);
      if (alias !== null) {
        if (alias.shell !== null) {
          this.newSegment(items, frame, input, env, scope);
          return this.evalText(
            alias.shell,
            { ...frame, depth: frame.depth + 1, via: [...frame.via, 'git alias'] },
            input,
          );
        }
        items = alias.items;
      }
    }
    const seg = this.newSegment(items, frame, input, env, scope);
    argv0 = seg.argv0;
    const args = items.slice(1);
    const argSources = args.flatMap((a) => a.sources);
    const out: Output = { text: null, sources: [] };

    // Paths named by the command, classified by how the command uses them.
    this.classifyPaths(seg, args, scope);

    // Nested shell code and interpreters.
    if (SHELLS.has(argv0) || argv0 === 'source' || argv0 === '.')
      this.shellCommand(seg, args, frame, input, scope);
    else if (argv0 in INTERPRETERS || argv0 === 'awk' || argv0 === 'gawk' || argv0 === 'mawk')
      this.interpreter(seg, args, frame, input, scope);
    else if (argv0 === 'find') this.findExec(seg, args, frame, scope);
    else if (argv0 === 'ssh') {
      const host = seg.operands[0];
      if (host !== undefined && seg.operands.length > 1) {
        const code = joinArgs(args.slice(args.findIndex((a) => a.text === host) + 1));
        this.nested(code, frame, 'ssh', NO_INPUT);
      }
    }

    // Network destinations and what is sent there.
    if (
      NETWORK_TOOLS.has(argv0) ||
      argv0 === 'aws' ||
      argv0 === 'gsutil' ||
      argv0 === 'rclone' ||
      argv0 === 'git' ||
      argv0 === 'gh' ||
      argv0 === 's3cmd' ||
      argv0 === 'azcopy' ||
      argv0 === 'az' ||
      seg.dynamicArgv0
    )
      this.network(seg, args, input, scope);
    if (DNS_TOOLS.has(argv0)) {
      const name = seg.operands.find((o) => !o.startsWith('@')) ?? '';
      this.addNet(seg, 'dns', name, [], false, [], argSources.length > 0);
      this.sink(seg, 'dns', false, argSources, NO_INPUT);
    }
    if (CLIPBOARD.has(argv0)) this.sink(seg, 'clipboard', false, [], input);
    // A command name computed from data executes that data (`$(echo cm0= | base64 -d) -rf /`).
    if (seg.dynamicArgv0 || a0.sources.length > 0) this.sink(seg, 'shell', false, a0.sources, NO_INPUT);

    // What the command prints: static text when it can be known, and where the data comes from.
    out.text = staticOutput(seg, input);
    out.sources = this.outputSources(seg, args, input, argSources, scope);
    if (out.text !== null && out.text.length > MAX_DECODED) out.text = null;

    this.applyOutputRedirects(seg, redirects, out, frame, scope);
    if (redirects.some(isStdoutRedirect)) return NOTHING;
    if (argv0 === 'cd' || argv0 === 'pushd') this.changeDir(seg, scope);
    return out;
  }

  private changeDir(seg: Segment, scope: Scope): void {
    const target = seg.operands[0] ?? '~';
    const p = seg.dynamicArgs ? null : this.canonical(target, scope);
    scope.cwd = p;
  }

  private canonical(raw: string, scope: Scope): string | null {
    return canonicalPath(raw, { home: this.opts.home, cwd: scope.cwd });
  }

  private addPath(
    seg: Segment,
    raw: string,
    access: PathFact['access'],
    source: PathFact['source'],
    scope: Scope,
    arg?: Arg,
  ): void {
    if (raw === '' || raw.length > 4096) return;
    const dynamic = arg?.dynamic ?? false;
    const glob = arg?.glob ?? false;
    const ctx = { ...this.opts, cwd: scope.cwd };
    const info = {
      raw,
      access,
      source,
      cmd: seg.argv0,
      flags: seg.flags,
      sub: seg.sub,
      via: seg.via,
      dynamic,
    };
    if (glob && !dynamic) {
      const canon = this.canonical(raw, scope);
      if (canon !== null) {
        this.facts.paths.push(pathFact({ ...info, raw: canon, glob: true }, ctx));
        for (const probe of probesMatching(canon, this.opts.probes, this.opts.home))
          this.facts.paths.push(pathFact({ ...info, raw: probe, source: 'glob', glob: true }, ctx));
        return;
      }
    }
    this.facts.paths.push(pathFact(info, ctx));
  }

  private classifyPaths(seg: Segment, args: Arg[], scope: Scope): void {
    const cmd = seg.argv0;
    if (cmd === '' || DATA_ONLY.has(cmd)) return;
    const operandArgs = operandArgsOf(cmd, args);
    const access = operandAccess(cmd);
    const add = (a: Arg, acc: PathFact['access']) => this.addPath(seg, a.text, acc, 'operand', scope, a);
    switch (cmd) {
      case 'grep':
      case 'egrep':
      case 'fgrep':
      case 'rg':
      case 'ag':
      case 'ack':
      case 'sed':
      case 'awk':
      case 'gawk':
      case 'mawk':
      case 'jq': {
        const hasScriptOption = seg.flags.some((f) =>
          ['-e', '-f', '--regexp', '--file', '--expression'].includes(f),
        );
        const files = hasScriptOption ? operandArgs : operandArgs.slice(1);
        const inPlace = cmd === 'sed' && seg.flags.some((f) => f === '-i' || f.startsWith('--in-place'));
        for (const a of files)
          add(a, inPlace ? 'write' : cmd === 'grep' || cmd === 'rg' || cmd === 'ag' ? 'search' : 'read');
        return;
      }
      case 'tr':
      case 'printf':
      case 'test':
      case 'kill':
      case 'export':
      case 'unset':
      case 'declare':
      case 'local':
      case 'readonly':
      case 'typeset':
      case 'history':
      case 'alias':
        return;
      case 'chmod':
      case 'chown':
      case 'chgrp':
        for (const a of operandArgs.slice(1)) add(a, 'perm');
        return;
      case 'cp':
      case 'mv':
      case 'install':
      case 'rsync':
      case 'scp': {
        if (operandArgs.length === 0) return;
        const dest = operandArgs[operandArgs.length - 1] as Arg;
        for (const a of operandArgs.slice(0, -1))
          if (!isRemote(a.text)) add(a, cmd === 'mv' ? 'delete' : 'read');
        if (!isRemote(dest.text)) add(dest, 'write');
        return;
      }
      case 'ln': {
        const ops = operandArgs;
        if (ops.length === 0) return;
        add(ops[0] as Arg, 'link');
        if (ops.length > 1) add(ops[ops.length - 1] as Arg, 'write');
        return;
      }
      case 'dd':
        for (const a of args) {
          if (a.text.startsWith('if=')) this.addPath(seg, a.text.slice(3), 'read', 'operand', scope, a);
          if (a.text.startsWith('of=')) this.addPath(seg, a.text.slice(3), 'write', 'operand', scope, a);
        }
        return;
      case 'tee':
        for (const a of operandArgs) add(a, 'write');
        return;
      case 'git':
        this.gitPaths(seg, args, scope);
        return;
      case 'ssh':
      case 'sftp':
        for (let i = 0; i < args.length; i++)
          if (args[i]?.text === '-i' && args[i + 1]) add(args[i + 1] as Arg, 'use');
        return;
      case 'ssh-keygen': {
        // -f names the key: generated (written), fingerprinted (-l: metadata) or read (-y, -e)
        const lists = seg.flags.includes('-l') || seg.flags.includes('-F') || seg.flags.includes('-R');
        const reads = seg.flags.includes('-y') || seg.flags.includes('-e');
        for (let i = 0; i < args.length; i++) {
          const t = args[i]?.text ?? '';
          const f = /^-[a-zA-Z]*f$/.test(t) ? args[i + 1] : undefined;
          if (f) add(f, lists ? 'metadata' : reads ? 'read' : 'write');
        }
        return;
      }
      case 'curl':
      case 'wget':
        // -o FILE / -O FILE: the download is written there
        for (let i = 0; i < args.length; i++) {
          const t = args[i]?.text ?? '';
          const out = ['-o', '--output', '--output-document'].includes(t) || (cmd === 'wget' && t === '-O');
          if (out && args[i + 1] && args[i + 1]?.text !== '-') add(args[i + 1] as Arg, 'write');
          const eq = /^--output(?:-document)?=(.+)$/.exec(t);
          if (eq && eq[1] !== '-') this.addPath(seg, eq[1] as string, 'write', 'operand', scope, args[i]);
        }
        return;
      case 'tar': {
        const create =
          seg.flags.some((f) => f === '-c' || f === '--create') || /^[a-z]*c/.test(seg.args[0] ?? '');
        for (const a of operandArgs)
          if (!/^[a-zA-Z]+$/.test(a.text) || a.text.includes('.')) add(a, create ? 'read' : 'write');
        return;
      }
      case 'find': {
        const starts = findStarts(args);
        const del = seg.args.includes('-delete');
        for (const a of starts) add(a, del ? 'delete' : 'metadata');
        return;
      }
      case 'crontab':
      case 'systemctl':
      case 'launchctl':
      case 'security':
        for (const a of operandArgs) if (looksLikePath(a.text)) add(a, 'read');
        return;
    }
    if (cmd in INTERPRETERS || SHELLS.has(cmd)) {
      const script = operandArgs[0];
      if (
        script !== undefined &&
        !seg.flags.some((f) => (INTERPRETERS[cmd] ?? ['-c']).includes(f) || f === '-m' || f === '-c')
      )
        add(script, 'exec');
      return;
    }
    for (const a of operandArgs) {
      if (access === 'unknown' && !looksLikePath(a.text)) continue;
      add(a, access);
    }
    // --opt=/path values of unknown commands
    for (const a of args) {
      const eq = a.text.indexOf('=');
      if (a.text.startsWith('-') && eq > 0 && looksLikePath(a.text.slice(eq + 1)))
        this.addPath(
          seg,
          a.text.slice(eq + 1),
          access === 'unknown' ? 'unknown' : access,
          'operand',
          scope,
          a,
        );
    }
  }

  private gitPaths(seg: Segment, args: Arg[], scope: Scope): void {
    const sub = seg.sub;
    for (let i = 0; i < args.length && args[i]?.text !== sub; i++)
      if (args[i]?.text === '-C' && args[i + 1])
        this.addPath(seg, (args[i + 1] as Arg).text, 'metadata', 'operand', scope, args[i + 1]);
    const ops = operandArgsOf('git', args).slice(1);
    const dd = args.findIndex((a) => a.text === '--');
    const afterDashes = dd >= 0 ? args.slice(dd + 1) : [];
    if (sub === 'show' || sub === 'cat-file') {
      for (const a of ops) {
        const i = a.text.indexOf(':');
        if (i >= 0 && i < a.text.length - 1)
          this.addPath(seg, a.text.slice(i + 1), 'read', 'operand', scope, a);
      }
    } else if (sub === 'diff' && seg.flags.includes('--no-index')) {
      for (const a of ops) this.addPath(seg, a.text, 'read', 'operand', scope, a);
    } else if (sub === 'checkout' || sub === 'restore') {
      for (const a of afterDashes) this.addPath(seg, a.text, 'write', 'operand', scope, a);
      if (sub === 'restore') for (const a of ops) this.addPath(seg, a.text, 'write', 'operand', scope, a);
    } else if (sub === 'rm') {
      for (const a of ops) this.addPath(seg, a.text, 'delete', 'operand', scope, a);
    } else if (sub === 'config') {
      const f = args.findIndex((a) => a.text === '--file' || a.text === '-f');
      if (f >= 0 && args[f + 1])
        this.addPath(seg, (args[f + 1] as Arg).text, 'write', 'operand', scope, args[f + 1]);
    }
  }

  private shellCommand(seg: Segment, args: Arg[], frame: Frame, input: Input, scope: Scope): void {
    const name = seg.argv0;
    if (name === 'source' || name === '.') {
      const file = args[0];
      if (file && file.text === '/dev/fd/63') {
        // source <(...): the substitution's output is code
        this.sink(seg, 'shell', false, file.sources, NO_INPUT);
        if (file.proc !== undefined)
          this.evalText(
            file.proc,
            { ...frame, depth: frame.depth + 1, via: [...frame.via, 'process-substitution'] },
            NO_INPUT,
          );
      }
      return;
    }
    let i = 0;
    let hasC = false;
    for (; i < args.length; i++) {
      const t = (args[i] as Arg).text;
      if (t === '--') {
        i++;
        break;
      }
      if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(t) && !t.startsWith('--')) {
        hasC = true;
        i++;
        break;
      }
      if (t === '-o' || t === '-O' || t === '+O' || t === '+o') {
        i++;
        continue;
      }
      if (!t.startsWith('-') && !t.startsWith('+')) break;
    }
    if (hasC) {
      const code = args[i];
      if (code === undefined) return;
      seg.code = code.text;
      this.sink(seg, 'shell', false, code.sources, NO_INPUT);
      this.nested(code, frame, `${name} -c`, NO_INPUT);
      return;
    }
    const script = args[i];
    if (script !== undefined) {
      if (script.text === '/dev/fd/63') {
        this.sink(seg, 'shell', false, script.sources, NO_INPUT);
        if (script.proc !== undefined)
          this.evalText(
            script.proc,
            { ...frame, depth: frame.depth + 1, via: [...frame.via, 'process-substitution'] },
            NO_INPUT,
          );
      }
      return;
    }
    // Commands from stdin: a heredoc, a herestring, or whatever the pipeline produces.
    this.sink(seg, 'shell', false, [], input);
    if (input.text !== null && input.kind !== 'none') {
      const how = input.sources.some((s) => s.kind === 'decode') ? 'decode' : input.kind;
      this.evalText(
        input.text,
        { depth: frame.depth + 1, via: [...frame.via, how], wrappers: frame.wrappers },
        NO_INPUT,
      );
    }
    void scope;
  }

  private interpreter(seg: Segment, args: Arg[], frame: Frame, input: Input, scope: Scope): void {
    const name = seg.argv0;
    let code: Arg | undefined;
    if (name === 'awk' || name === 'gawk' || name === 'mawk') {
      if (!seg.flags.includes('-f')) code = operandArgsOf(name, args)[0];
    } else {
      const codeFlags = INTERPRETERS[name] ?? [];
      for (let i = 0; i < args.length; i++) {
        const t = (args[i] as Arg).text;
        if (codeFlags.includes(t)) {
          code = args[i + 1];
          break;
        }
        // bundled: python -Sc CODE, perl -we CODE
        const m = /^-[a-zA-Z]*([ceE])$/.exec(t);
        if (m && codeFlags.includes(`-${m[1]}`)) {
          code = args[i + 1];
          break;
        }
      }
    }
    if (code === undefined) {
      // `python -` / `node` reading a program from stdin
      if (input.kind !== 'none' && !operandArgsOf(name, args).length)
        this.sink(seg, 'interpreter', false, [], input);
      return;
    }
    seg.code = code.text;
    if (code.sources.length > 0) this.sink(seg, 'interpreter', false, code.sources, NO_INPUT);
    if (code.dynamic) return;
    const inner = { ...frame, depth: frame.depth + 1, via: [...frame.via, name] };
    for (const cmd of shellCallsIn(code.text)) this.evalText(cmd, inner, NO_INPUT);
    const hasFileApi = FILE_API.test(code.text);
    const hasNetApi = NET_API.test(code.text);
    const literals = stringLiterals(code.text);
    const uploads: string[] = [];
    for (const lit of literals) {
      if (URL_RE.test(lit)) {
        const host = hostOf(lit);
        this.addNet(seg, name, lit, [], false, [], false, host);
      } else if (hasFileApi && (looksLikePath(lit) || SENSITIVE_NAME.test(lit))) {
        this.addPath(seg, lit, 'read', 'literal', scope);
        const p = this.canonical(lit, scope);
        if (p !== null) uploads.push(p);
      }
    }
    if (hasNetApi && uploads.length > 0)
      for (const n of this.facts.net) if (n.tool === name) n.uploads.push(...uploads);
  }

  private findExec(_seg: Segment, args: Arg[], frame: Frame, scope: Scope): void {
    const starts = findStarts(args);
    for (let i = 0; i < args.length; i++) {
      const t = (args[i] as Arg).text;
      if (t !== '-exec' && t !== '-execdir' && t !== '-ok' && t !== '-okdir') continue;
      let j = i + 1;
      const cmd: Arg[] = [];
      while (j < args.length && args[j]?.text !== ';' && args[j]?.text !== '+') cmd.push(args[j++] as Arg);
      i = j;
      if (cmd.length === 0) continue;
      const replaced = substitutePlaceholder(
        cmd,
        '{}',
        starts.length > 0 ? starts : [{ text: '.', dynamic: false, glob: false, sources: [] }],
      );
      this.runArgv(
        replaced,
        { ...frame, via: [...frame.via, `find ${t}`], wrappers: [...frame.wrappers, 'find'] },
        NO_INPUT,
        [],
        [],
        scope,
      );
    }
  }

  private network(seg: Segment, args: Arg[], input: Input, scope: Scope): void {
    const name = seg.argv0;
    const texts = args.map((a) => a.text);
    const argSources = args.flatMap((a) => a.sources);
    const uploads: string[] = [];
    const data: string[] = [];
    let stdinUpload = false;
    const uploadPath = (raw: string, a?: Arg) => {
      if (raw === '-') {
        stdinUpload = true;
        return;
      }
      this.addPath(seg, raw, 'upload', 'upload', scope, a);
      const p = a?.dynamic ? null : this.canonical(raw, scope);
      if (p !== null) uploads.push(p);
    };
    const optValue = (i: number, opt: string): { v: string; arg: Arg | undefined; next: number } | null => {
      const t = texts[i] as string;
      if (t === opt)
        return texts[i + 1] === undefined
          ? null
          : { v: texts[i + 1] as string, arg: args[i + 1], next: i + 1 };
      if (t.startsWith(`${opt}=`)) return { v: t.slice(opt.length + 1), arg: args[i], next: i };
      if (opt.length === 2 && t.startsWith(opt) && t.length > 2 && !t.startsWith('--'))
        return { v: t.slice(2), arg: args[i], next: i };
      return null;
    };
    let urls: string[] = [];
    if (
      name === 'curl' ||
      name === 'http' ||
      name === 'https' ||
      name === 'xh' ||
      name === 'xhs' ||
      name === 'curlie' ||
      name === 'httpie' ||
      seg.dynamicArgv0
    ) {
      for (let i = 0; i < texts.length; i++) {
        let m: { v: string; arg: Arg | undefined; next: number } | null = null;
        for (const opt of ['-d', '--data', '--data-binary', '--data-ascii', '--data-urlencode', '--json']) {
          m = optValue(i, opt);
          if (m) {
            const at = m.v.indexOf('@');
            if (m.v.startsWith('@')) uploadPath(m.v.slice(1), m.arg);
            else if (opt === '--data-urlencode' && at > 0) uploadPath(m.v.slice(at + 1), m.arg);
            else data.push(m.v);
            break;
          }
        }
        if (!m) {
          for (const opt of ['-F', '--form']) {
            m = optValue(i, opt);
            if (m) {
              const eq = m.v.indexOf('=');
              const val = eq >= 0 ? m.v.slice(eq + 1) : m.v;
              if (val.startsWith('@') || val.startsWith('<'))
                uploadPath(val.slice(1).split(';')[0] as string, m.arg);
              else data.push(m.v);
              break;
            }
          }
        }
        if (!m) {
          for (const opt of ['-T', '--upload-file']) {
            m = optValue(i, opt);
            if (m) {
              uploadPath(m.v, m.arg);
              break;
            }
          }
        }
        if (!m) {
          for (const opt of ['-H', '--header', '-u', '--user', '--data-raw', '-b', '--cookie']) {
            m = optValue(i, opt);
            if (m) {
              data.push(m.v);
              break;
            }
          }
        }
        if (!m && texts[i] === '--url' && texts[i + 1]) {
          urls.push(texts[i + 1] as string);
          i++;
        } else if (m) i = m.next;
        // httpie: field=@file, @file
        else if (
          (name === 'http' || name === 'https' || name === 'xh') &&
          /^[^-][^=]*=@/.test(texts[i] as string)
        )
          uploadPath((texts[i] as string).slice((texts[i] as string).indexOf('=@') + 2), args[i]);
      }
      urls.push(...seg.operands.filter((o) => URL_RE.test(o) || HOSTISH.test(o)));
      if (seg.dynamicArgv0) urls = urls.filter((u) => URL_RE.test(u));
    } else if (name === 'wget') {
      for (let i = 0; i < texts.length; i++) {
        for (const opt of ['--post-file', '--body-file']) {
          const m = optValue(i, opt);
          if (m) uploadPath(m.v, m.arg);
        }
        for (const opt of ['--post-data', '--body-data', '--header']) {
          const m = optValue(i, opt);
          if (m) data.push(m.v);
        }
      }
      urls.push(...seg.operands.filter((o) => URL_RE.test(o) || HOSTISH.test(o)));
    } else if (['nc', 'ncat', 'netcat', 'telnet'].includes(name)) {
      const host = seg.operands.find((o) => !/^\d+$/.test(o)) ?? '';
      const port = seg.operands.find((o) => /^\d+$/.test(o)) ?? '';
      const listening = seg.flags.includes('-l') || seg.flags.includes('--listen');
      if (host !== '' || !listening)
        this.addNet(seg, name, `${host}:${port}`, uploads, input.kind !== 'none', data, false, host, port);
      this.sink(seg, 'network', isLocalHost(host), [], input);
      return;
    } else if (name === 'socat') {
      for (const o of seg.operands) {
        const m = /^(?:tcp[46]?|udp[46]?|tcp-connect|openssl|ssl)[:-]([^:,]+):(\d+)/i.exec(o);
        if (m) this.addNet(seg, name, o, [], true, [], false, m[1], m[2]);
      }
      this.sink(seg, 'network', false, [], input);
      return;
    } else if (name === 'scp' || name === 'rsync' || name === 'sftp' || name === 'rcp') {
      const ops = operandArgsOf(name, args);
      const dest = ops[ops.length - 1];
      if (dest && isRemote(dest.text)) {
        const host = remoteHost(dest.text);
        for (const a of ops.slice(0, -1)) if (!isRemote(a.text)) uploadPath(a.text, a);
        this.addNet(seg, name, dest.text, uploads, false, [], false, host);
      } else
        for (const a of ops)
          if (isRemote(a.text)) this.addNet(seg, name, a.text, [], false, [], false, remoteHost(a.text));
      return;
    } else if (name === 'ssh') {
      const host = seg.operands[0];
      if (host) this.addNet(seg, 'ssh', host, [], input.kind !== 'none', [], false, remoteHost(`${host}:`));
      return;
    } else if (
      name === 'aws' ||
      name === 'gsutil' ||
      name === 's3cmd' ||
      name === 'rclone' ||
      name === 'azcopy' ||
      name === 'az'
    ) {
      const ops = seg.operands;
      const transfer =
        /^(cp|mv|sync|rsync|copy|put|upload|copyto|moveto)$/.test(seg.sub2) ||
        /^(cp|mv|sync|rsync|copy|put|copyto|moveto)$/.test(seg.sub);
      if (transfer) {
        const remote = ops.find((o) => /^[a-z0-9]+:\/\/|^[A-Za-z0-9_-]+:/.test(o) && !o.startsWith('/'));
        const local = ops.filter((o) => o !== remote && looksLikePath(o));
        if (remote !== undefined) {
          for (const l of local)
            uploadPath(
              l,
              args.find((a) => a.text === l),
            );
          this.addNet(
            seg,
            name,
            remote,
            uploads,
            false,
            [],
            false,
            remote.replace(/^[a-z0-9]+:\/\//, '').split(/[/:]/)[0] ?? '',
          );
        }
      }
      return;
    } else if (name === 'git') {
      if (seg.sub === 'remote' && (seg.sub2 === 'add' || seg.sub2 === 'set-url')) {
        const url = seg.operands[3] ?? '';
        this.addNet(seg, 'git', url, [], false, [], false, hostOf(url));
      } else if (seg.sub === 'push' || seg.sub === 'clone' || seg.sub === 'fetch' || seg.sub === 'pull') {
        const url = seg.operands.find((o) => URL_RE.test(o) || /^[\w.-]+@[\w.-]+:/.test(o));
        if (url) this.addNet(seg, 'git', url, [], false, [], false, hostOf(url));
      }
      return;
    } else if (name === 'gh') {
      if (seg.sub === 'gist' && seg.sub2 === 'create') {
        for (const o of seg.operands.slice(2))
          uploadPath(
            o,
            args.find((a) => a.text === o),
          );
        this.addNet(seg, 'gh', 'https://gist.github.com', uploads, false, [], false, 'gist.github.com');
      }
      return;
    } else if (name === 'openssl') {
      if (seg.sub === 's_client') {
        const i = texts.indexOf('-connect');
        const target = i >= 0 ? (texts[i + 1] ?? '') : '';
        this.addNet(seg, name, target, [], true, [], false, target.split(':')[0] ?? '');
        this.sink(seg, 'network', false, [], input);
      }
      return;
    } else {
      urls.push(...seg.operands.filter((o) => URL_RE.test(o)));
    }
    if (urls.length === 0 && (uploads.length > 0 || stdinUpload)) urls.push('');
    const stdinSent = stdinUpload && input.kind !== 'none';
    for (const u of urls) {
      const host = hostOf(u);
      this.addNet(seg, seg.dynamicArgv0 ? 'dynamic' : name, u, uploads, stdinSent, data, false, host);
      const sources: Source[] = [...argSources, ...uploads.map((p) => ({ kind: 'path' as const, value: p }))];
      this.sink(seg, 'network', isLocalHost(host), sources, stdinSent ? input : NO_INPUT);
    }
  }

  private addNet(
    seg: Segment,
    tool: string,
    url: string,
    uploads: string[],
    uploadsStdin: boolean,
    data: string[],
    secret: boolean,
    hostArg?: string,
    portArg?: string,
  ): void {
    const host = (hostArg ?? hostOf(url)).toLowerCase();
    const portMatch = /:(\d+)(?:\/|$)/.exec(url.replace(/^[a-z]+:\/\//i, ''));
    this.facts.net.push({
      tool,
      url,
      host,
      port: portArg ?? portMatch?.[1] ?? '',
      local: isLocalHost(host),
      uploads: [...uploads],
      uploadsStdin,
      data,
      secretInRequest: secret || urlCarriesSecret(url),
    });
    void seg;
  }

  /** Records a data flow into a sink when anything flows in. */
  private sink(seg: Segment, kind: SinkKind, local: boolean, extra: Source[], input: Input): void {
    const sources = [...extra, ...(input.kind === 'none' ? [] : input.sources)];
    if (input.kind !== 'none' && input.sources.length === 0 && input.text !== null)
      sources.push({ kind: 'literal', value: '' });
    if (sources.length === 0) return;
    this.facts.flows.push({
      sink: seg.argv0,
      sinkKind: kind,
      sinkLocal: local,
      sources: dedupeSources(sources),
    });
  }

  private outputSources(
    seg: Segment,
    args: Arg[],
    input: Input,
    argSources: Source[],
    scope: Scope,
  ): Source[] {
    const cmd = seg.argv0;
    const out: Source[] = [...argSources];
    const stdinPassed = input.kind !== 'none';
    if (READERS.has(cmd) || DELETERS.has(cmd) === false) {
      if (READERS.has(cmd) || cmd === 'git' || cmd in INTERPRETERS) {
        for (const p of this.facts.paths) {
          if (
            p.cmd === cmd &&
            (p.access === 'read' || p.access === 'search') &&
            !p.dynamic &&
            p.source !== 'upload'
          )
            out.push({ kind: 'path', value: p.canonical });
        }
      }
    }
    if (stdinPassed) out.push(...input.sources);
    if (
      ENV_DUMPERS.has(cmd) &&
      (seg.operands.length === 0 || seg.flags.includes('-p') || seg.flags.includes('-x'))
    )
      out.push({ kind: 'env', value: cmd });
    if (cmd === 'cat' || cmd === 'strings' || cmd === 'xargs')
      for (const p of seg.operands)
        if (/^\/proc\/[^/]+\/environ$/.test(this.canonical(p, scope) ?? ''))
          out.push({ kind: 'env', value: p });
    if (IDENTITY.has(cmd)) out.push({ kind: 'command', value: cmd });
    if (
      (cmd === 'curl' || cmd === 'wget') &&
      !seg.flags.some((f) => f === '-o' || f === '-O' || f === '--output' || f === '--output-document')
    )
      out.push({ kind: 'network', value: cmd });
    if (cmd === 'wget' && seg.args.some((a) => a === '-O-' || a === '-qO-' || a === '-O'))
      out.push({ kind: 'network', value: cmd });
    if (isDecoder(seg)) out.push({ kind: 'decode', value: cmd });
    if (cmd === 'echo' || cmd === 'printf') {
      out.push({ kind: 'literal', value: '' });
      if (cmd === 'printf' && /\\x[0-9a-f]{2}|\\[0-7]{3}/i.test(seg.args.join(' ')))
        out.push({ kind: 'decode', value: 'printf' });
    }
    if (cmd === 'security' && /find-.*-password|dump-keychain|export/.test(seg.sub))
      out.push({ kind: 'secret', value: cmd });
    if (
      cmd === 'gpg' &&
      seg.flags.some((f) => f === '-d' || f === '--decrypt' || f === '--export-secret-keys')
    )
      out.push({ kind: 'secret', value: cmd });
    if (cmd === 'pass' || cmd === 'op' || cmd === 'bw' || cmd === 'secret-tool')
      out.push({ kind: 'secret', value: cmd });
    void args;
    return dedupeSources(out);
  }

  private applyOutputRedirects(
    seg: Segment,
    redirects: Redirect[],
    out: Output,
    frame: Frame,
    scope: Scope,
  ): void {
    void frame;
    for (const r of redirects) {
      if (r.target === null) continue;
      const t = r.target.text;
      if (r.op === '<' || r.op === '<<<' || r.op === '<<') {
        if (r.op === '<' && (r.fd === '' || r.fd === '0')) {
          const p = this.canonical(t, scope);
          if (p !== null && /^\/dev\/(tcp|udp)\//.test(p)) continue;
          seg.reads.push(p ?? t);
          this.addPath(seg, t, 'read', 'redirect', scope, r.target);
        }
        continue;
      }
      if (r.op.endsWith('&') && /^\d+$|^-$/.test(t)) {
        const net = scope.netFds.get(t);
        if (net) {
          seg.writes.push(`/dev/tcp/${net.host}/${net.port}`);
          this.facts.flows.push({
            sink: seg.argv0,
            sinkKind: 'network',
            sinkLocal: net.local,
            sources: dedupeSources(out.sources),
          });
        }
        continue;
      }
      const p = r.target.dynamic ? null : this.canonical(t, scope);
      const shown = p ?? t;
      if (r.op === '<>' && r.fd !== '' && p !== null && /^\/dev\/(tcp|udp)\//.test(p)) continue;
      seg.writes.push(shown);
      if (p !== null && /^\/dev\/(tcp|udp)\//.test(p)) {
        const [, , , host = '', port = ''] = p.split('/');
        this.addNet(seg, 'dev-tcp', p, [], true, [], false, host, port);
        this.facts.flows.push({
          sink: seg.argv0 || 'redirect',
          sinkKind: 'network',
          sinkLocal: isLocalHost(host),
          sources: dedupeSources(out.sources.length > 0 ? out.sources : [{ kind: 'literal', value: '' }]),
        });
        continue;
      }
      if (p === '/dev/null' || p === '/dev/stdout' || p === '/dev/stderr') continue;
      this.addPath(seg, t, 'write', 'redirect', scope, r.target);
    }
    this.openNetFds(redirects, scope);
  }

  /** `exec 3<>/dev/tcp/host/port`: later `>&3` redirections send to the network. */
  private openNetFds(redirects: Redirect[], scope: Scope): void {
    for (const r of redirects) {
      if (r.target === null || r.fd === '') continue;
      const p = this.canonical(r.target.text, scope);
      if (p === null || !/^\/dev\/(tcp|udp)\//.test(p)) continue;
      const [, , , host = '', port = ''] = p.split('/');
      const net: NetFact = {
        tool: 'dev-tcp',
        url: p,
        host,
        port,
        local: isLocalHost(host),
        uploads: [],
        uploadsStdin: true,
        data: [],
        secretInRequest: false,
      };
      if (!this.facts.net.some((n) => n.url === p)) this.facts.net.push(net);
      scope.netFds.set(r.fd, net);
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------------------

function isStatement(n: SyntaxNode | null): n is SyntaxNode {
  if (n === null) return false;
  return n.isNamed && n.type !== 'comment' && n.type !== 'heredoc_body' && n.type !== 'heredoc_end';
}

function isStdoutRedirect(r: Redirect): boolean {
  if (r.target === null) return false;
  if (r.op.endsWith('&') && /^\d+$|^-$/.test(r.target.text)) return false;
  return (r.op.startsWith('>') || r.op.startsWith('&>')) && (r.fd === '' || r.fd === '1');
}

function joinArgs(args: Arg[]): Arg {
  return {
    text: args.map((a) => a.text).join(' '),
    dynamic: args.some((a) => a.dynamic),
    glob: false,
    sources: args.flatMap((a) => a.sources),
  };
}

function substitutePlaceholder(cmd: Arg[], placeholder: string, values: Arg[]): Arg[] {
  if (!cmd.some((a) => a.text.includes(placeholder))) return [...cmd, ...values];
  const out: Arg[] = [];
  for (const a of cmd) {
    if (a.text === placeholder) out.push(...values);
    else if (a.text.includes(placeholder)) {
      const v = values[0];
      out.push({
        ...a,
        text: a.text.split(placeholder).join(v?.text ?? ''),
        dynamic: a.dynamic || (v?.dynamic ?? false),
      });
    } else out.push(a);
  }
  return out;
}

function skipOptions(cmd: string, rest: Arg[]): { flags: string[]; remaining: Arg[] } {
  const flags: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const t = (rest[i] as Arg).text;
    if (t === '--') {
      i++;
      break;
    }
    if (!t.startsWith('-') || t === '-') break;
    flags.push(t);
    if (t.startsWith('--')) {
      if (!t.includes('=') && longTakesValue(cmd, t)) i++;
    } else if (t.length === 2 && shortTakesValue(cmd, t[1] as string)) i++;
    i++;
  }
  return { flags, remaining: rest.slice(i) };
}

/** Options and operands of a command line, with bundles split and long abbreviations expanded. */
export function parseOptions(cmd: string, args: string[]): { flags: string[]; operands: string[] } {
  const flags: string[] = [];
  const operands: string[] = [];
  let key = cmd;
  let end = false;
  for (let i = 0; i < args.length; i++) {
    const t = args[i] as string;
    if (end || t === '-' || !t.startsWith('-') || (/^-\d+$/.test(t) && cmd !== 'git')) {
      if (!end && t === '--') {
        end = true;
        continue;
      }
      operands.push(t);
      if (cmd === 'git' && operands.length === 1) key = `git ${t}`;
      continue;
    }
    if (t === '--') {
      end = true;
      continue;
    }
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      const opt = expandLongOption(key, eq < 0 ? t : t.slice(0, eq));
      flags.push(opt);
      if (eq < 0 && longTakesValue(cmd, opt)) i++;
      continue;
    }
    if (
      cmd === 'find' ||
      cmd === 'dd' ||
      cmd === 'java' ||
      cmd === 'go' ||
      cmd === 'gcc' ||
      cmd === 'cc' ||
      cmd === 'clang'
    ) {
      flags.push(t);
      continue;
    }
    if (cmd === 'chmod' && /^-[rwxXstugo]+$/.test(t)) {
      operands.push(t);
      continue;
    }
    for (let k = 1; k < t.length; k++) {
      const letter = t[k] as string;
      flags.push(`-${letter}`);
      if (shortTakesValue(cmd === 'git' && operands.length > 0 ? 'git-sub' : cmd, letter)) {
        if (k === t.length - 1) i++;
        break;
      }
    }
  }
  // git push origin +main / :branch rewrite history like --force / --delete
  if (cmd === 'git' && operands[0] === 'push') {
    if (operands.slice(1).some((o) => o.startsWith('+'))) flags.push('--force');
    if (operands.slice(1).some((o) => o.startsWith(':'))) flags.push('--delete');
  }
  return { flags, operands };
}

function operandArgsOf(cmd: string, args: Arg[]): Arg[] {
  const out: Arg[] = [];
  let end = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as Arg;
    const t = a.text;
    if (end || t === '-' || !t.startsWith('-')) {
      out.push(a);
      continue;
    }
    if (t === '--') {
      end = true;
      continue;
    }
    if (t.startsWith('--')) {
      if (!t.includes('=') && longTakesValue(cmd, t)) i++;
      continue;
    }
    const last = t[t.length - 1] as string;
    if (t.length >= 2 && shortTakesValue(cmd, last) && !(cmd === 'tail' || cmd === 'head')) i++;
    else if ((cmd === 'tail' || cmd === 'head') && (t === '-n' || t === '-c')) i++;
  }
  return out;
}

function findStarts(args: Arg[]): Arg[] {
  const out: Arg[] = [];
  for (const a of args) {
    if (a.text.startsWith('-') || a.text === '(' || a.text === '!' || a.text === '\\(') break;
    out.push(a);
  }
  return out;
}

interface GitAlias {
  items: Arg[];
  shell: string | null;
}

/** `git -c alias.p='push --force' p origin main` -> the alias expanded in place. */
function gitAlias(items: Arg[]): GitAlias | null {
  const aliases = new Map<string, string>();
  let i = 1;
  const kept: Arg[] = [items[0] as Arg];
  while (i < items.length) {
    const t = (items[i] as Arg).text;
    if (t === '-c' && items[i + 1]) {
      const kv = (items[i + 1] as Arg).text;
      const m = /^alias\.([^=]+)=(.*)$/s.exec(kv);
      if (m) aliases.set(m[1] as string, m[2] as string);
      kept.push(items[i] as Arg, items[i + 1] as Arg);
      i += 2;
    } else if (t === '-C' || t === '--git-dir' || t === '--work-tree' || t === '--namespace') {
      kept.push(items[i] as Arg, ...(items[i + 1] ? [items[i + 1] as Arg] : []));
      i += 2;
    } else if (t.startsWith('-')) {
      kept.push(items[i] as Arg);
      i++;
    } else break;
  }
  const sub = items[i];
  if (sub === undefined || aliases.size === 0) return null;
  const def = aliases.get(sub.text);
  if (def === undefined) return null;
  if (def.startsWith('!')) return { items, shell: def.slice(1) };
  const words = def
    .split(/\s+/)
    .filter(Boolean)
    .map((text) => ({ text, dynamic: false, glob: false, sources: [] }));
  return { items: [...kept, ...words, ...items.slice(i + 1)], shell: null };
}

/** Output of a command when it can be known without running anything external. */
function staticOutput(seg: Segment, input: Input): string | null {
  if (seg.dynamicArgs || seg.dynamicArgv0) return null;
  const a = seg.args;
  switch (seg.argv0) {
    case 'echo': {
      let i = 0;
      let interpret = false;
      let newline = true;
      while (i < a.length && /^-[neE]+$/.test(a[i] as string)) {
        if ((a[i] as string).includes('e')) interpret = true;
        if ((a[i] as string).includes('n')) newline = false;
        i++;
      }
      const text = a.slice(i).join(' ');
      return (interpret ? decodeAnsiC(text) : text) + (newline ? '\n' : '');
    }
    case 'printf': {
      if (a.length === 0) return null;
      const fmt = a[0] as string;
      let k = 1;
      const filled = fmt.replace(/%[-0-9.]*([sbdc%])/g, (_m, f: string) => {
        if (f === '%') return '%';
        const v = a[k++] ?? '';
        return f === 'b' ? decodeAnsiC(v) : v;
      });
      return decodeAnsiC(filled);
    }
    case 'cat':
      return seg.operands.length === 0 || (seg.operands.length === 1 && seg.operands[0] === '-')
        ? input.text
        : null;
    case 'base64':
    case 'base32': {
      if (!seg.flags.some((f) => f === '-d' || f === '--decode' || f === '-D')) return null;
      if (input.text === null || seg.argv0 === 'base32') return null;
      return decodeBase64(input.text);
    }
    case 'rev':
      return input.text === null
        ? null
        : input.text
            .split('\n')
            .map((l) => [...l].reverse().join(''))
            .join('\n');
    case 'tr': {
      if (input.text === null) return null;
      const [from, to] = seg.operands;
      if (from && to && /^a-z?A-Z$|^A-Za-z$|^a-zA-Z$/.test(from) && /^n-za-m/i.test(to))
        return rot13(input.text);
      return null;
    }
    case 'xxd':
      if (input.text !== null && seg.flags.includes('-r') && seg.flags.includes('-p'))
        return Buffer.from(input.text.replace(/\s+/g, ''), 'hex').toString('latin1');
      return null;
    case 'which':
    case 'type':
      return seg.operands.length > 0 ? `${seg.operands.join('\n')}\n` : null;
    case 'command':
      return seg.flags.includes('-v') && seg.operands[0] ? `${seg.operands[0]}\n` : null;
    case 'head':
    case 'tail':
      return null;
    default:
      return null;
  }
}

function decodeBase64(text: string): string | null {
  const clean = text.replace(/\s+/g, '');
  if (clean === '' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) return null;
  const buf = Buffer.from(clean.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (buf.length === 0 || buf.length > MAX_DECODED) return null;
  return buf.toString('utf8');
}

function rot13(s: string): string {
  return s.replace(/[a-zA-Z]/g, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

function isDecoder(seg: Segment): boolean {
  const f = seg.flags;
  switch (seg.argv0) {
    case 'base64':
    case 'base32':
    case 'basenc':
      return f.includes('-d') || f.includes('--decode') || f.includes('-D');
    case 'xxd':
      return f.includes('-r');
    case 'openssl':
      return (seg.sub === 'base64' || seg.sub === 'enc') && f.includes('-d');
    case 'rev':
    case 'uudecode':
    case 'gunzip':
    case 'zcat':
      return true;
    case 'tr':
      return /n-za-m/i.test(seg.operands[1] ?? '');
    default:
      return false;
  }
}

function dedupeSources(s: Source[]): Source[] {
  const seen = new Set<string>();
  const out: Source[] = [];
  for (const x of s) {
    const k = `${x.kind}\u0000${x.value}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(x);
    }
  }
  return out;
}

/** A credential inside a URL (query, path or userinfo), found by the redactor. */
export function urlCarriesSecret(url: string): boolean {
  if (url === '' || url.length > 8192) return false;
  return url.includes('<redacted:') || redactString(url) !== url;
}

const URL_RE = /^[a-z][a-z0-9+.-]{1,15}:\/\/\S+/i;
const HOSTISH =
  /^(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?(?:\/\S*)?$|^\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:\/\S*)?$|^\[[0-9a-f:]+\](?::\d+)?/i;

/** Host of a URL, `user@host:path` or bare `host/path`. */
export function hostOf(u: string): string {
  if (u === '') return '';
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]+\]|[^/:?#]+)/i.exec(u);
  if (m) return (m[1] as string).toLowerCase();
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):/.exec(u);
  if (scp) return (scp[1] as string).toLowerCase();
  return (u.split(/[/:?#]/)[0] ?? '').toLowerCase();
}

function isRemote(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^(?:[^@/\s]+@)?[A-Za-z0-9.-]+:(?!\/\/)/.test(s);
}

function remoteHost(s: string): string {
  return hostOf(s);
}

export function looksLikePath(w: string): boolean {
  if (w === '' || w === '-' || w.length > 4096 || w.includes('://')) return false;
  const c = w.charCodeAt(0);
  if (c === 47 || c === 126) return true;
  if (w === '.' || w === '..' || w.startsWith('./') || w.startsWith('../')) return true;
  if (w.startsWith('.') && w.length > 1 && !w.includes(' ')) return true;
  const slash = w.indexOf('/');
  if (slash < 0) return false;
  const colon = w.indexOf(':');
  return colon < 0 || colon > slash;
}

const FILE_API = /\bopen\s*\(|read|File|fs\.|Path\(|load|\bcat\b|expanduser|getenv|environ|require\(/;
const NET_API =
  /urlopen|requests\.|http\.|https\.|fetch\(|socket|net\.connect|urllib|axios|Net::HTTP|LWP|curl|Invoke-WebRequest|XMLHttpRequest/;
const SENSITIVE_NAME = /^\.env(?:\.|$)|^id_(?:rsa|dsa|ecdsa|ed25519)|credentials|\.netrc$|\.npmrc$|\.pypirc$/;

/** Quoted string literals of a program (single, double and backtick quotes; no escapes across lines). */
function stringLiterals(code: string): string[] {
  const out: string[] = [];
  const re = /'([^'\\\n]*(?:\\.[^'\\\n]*)*)'|"([^"\\\n]*(?:\\.[^"\\\n]*)*)"/g;
  for (let m = re.exec(code); m !== null && out.length < 256; m = re.exec(code)) {
    const s = (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1');
    if (s !== '') out.push(s);
  }
  return out;
}

const SHELL_CALL =
  /\b(?:system|popen|execSync|exec|execFile|execFileSync|spawnSync|spawn|check_output|check_call|call|run|Popen|getoutput|getstatusoutput|shell_exec|passthru|proc_open|os\.system)\s*\(\s*(\[[^\]]{0,4096}\]|'[^'\n]{0,4096}'|"[^"\n]{0,4096}"|`[^`]{0,4096}`)/g;

/** Shell commands a program runs: string arguments of system/exec/spawn-like calls, and backticks. */
function shellCallsIn(code: string): string[] {
  const out: string[] = [];
  SHELL_CALL.lastIndex = 0;
  for (let m = SHELL_CALL.exec(code); m !== null && out.length < 32; m = SHELL_CALL.exec(code)) {
    const arg = m[1] as string;
    if (arg.startsWith('[')) out.push(stringLiterals(arg).join(' '));
    else out.push(arg.slice(1, -1).replace(/\\(.)/g, '$1'));
  }
  // Perl/Ruby backticks and qx{}
  for (const m of code.matchAll(/`([^`\n]{1,4096})`|\bqx\{([^}\n]{1,4096})\}/g)) {
    if (out.length >= 32) break;
    out.push((m[1] ?? m[2]) as string);
  }
  return out;
}
