/**
 * LogQL text -> our AST, through Grafana's grammar (@grafana/lezer-logql).
 *
 * That grammar is an editor's: it never throws, marks syntax errors as error nodes, and does not give binary
 * operators their precedence. So: a tree with any error node is refused with a message that names the
 * broken part and its position (Loki's "parse error at line 1, col N: syntax error: unexpected ..."); binary
 * operator chains are flattened and regrouped by LogQL's precedence; every construct outside the supported
 * subset is refused as "not supported"; and the semantic checks Loki makes are made here.
 */
import { parser } from '@grafana/lezer-logql';
import type { SyntaxNode } from '@lezer/common';
import { QueryError } from './api.ts';
import type {
  BinaryOp,
  CmpOp,
  Grouping,
  JsonExtraction,
  LabelFilterExpr,
  LabelFormatItem,
  LabelSelectItem,
  LogSelector,
  Matcher,
  MatchOp,
  MetricExpr,
  Query,
  RangeAggregation,
  RangeFunction,
  Stage,
  Unwrap,
  UnwrapConversion,
  VectorMatching,
  VectorOp,
} from './ast.ts';
import { RANGE_FUNCTIONS, UNWRAP_FUNCTIONS } from './ast.ts';
import { LiteralError, parseBytes, parseDurationMs, unquote } from './literals.ts';
import { RegexError, translateRegex } from './regex.ts';

/** "line L, col C" of an offset, 1-based as Loki reports them. */
export function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - (before.lastIndexOf('\n') + 1) + 1;
  return `line ${line}, col ${col}`;
}

const MATCH_OPS: Record<string, MatchOp> = { Eq: '=', Neq: '!=', Re: '=~', Nre: '!~' };
const CMP_OPS: Record<string, CmpOp> = {
  Gtr: '>',
  Gte: '>=',
  Lss: '<',
  Lte: '<=',
  Eql: '==',
  Eq: '==',
  Neq: '!=',
};
const BIN_OPS: Record<string, BinaryOp> = {
  Add: '+',
  Sub: '-',
  Mul: '*',
  Div: '/',
  Mod: '%',
  Pow: '^',
  Eql: '==',
  Neq: '!=',
  Gtr: '>',
  Gte: '>=',
  Lss: '<',
  Lte: '<=',
  And: 'and',
  Or: 'or',
  Unless: 'unless',
};
const PRECEDENCE: Record<BinaryOp, number> = {
  '^': 6,
  '*': 5,
  '/': 5,
  '%': 5,
  '+': 4,
  '-': 4,
  '==': 3,
  '!=': 3,
  '>': 3,
  '>=': 3,
  '<': 3,
  '<=': 3,
  and: 2,
  unless: 2,
  or: 1,
};
const VECTOR_OPS = new Set<string>(['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk']);
const CONVERSIONS: Record<string, UnwrapConversion> = {
  BytesConv: 'bytes',
  DurationConv: 'duration',
  DurationSecondsConv: 'duration_seconds',
};

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class Parser {
  constructor(private readonly text: string) {}

  fail(message: string, pos: number): never {
    throw new QueryError(`parse error at ${lineCol(this.text, pos)}: ${message}`, pos);
  }

  unsupported(what: string, pos: number): never {
    throw new QueryError(`${what} is not supported (at ${lineCol(this.text, pos)})`, pos);
  }

  src(n: SyntaxNode): string {
    return this.text.slice(n.from, n.to);
  }

  kids(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
    return out;
  }

  kid(n: SyntaxNode, name: string): SyntaxNode | undefined {
    return n.getChild(name) ?? undefined;
  }

  need(n: SyntaxNode, name: string): SyntaxNode {
    const c = n.getChild(name);
    if (!c) this.fail(`syntax error: expected ${name}`, n.from);
    return c;
  }

  str(n: SyntaxNode): string {
    try {
      return unquote(this.src(n));
    } catch (err) {
      return this.fail((err as Error).message, n.from);
    }
  }

  duration(n: SyntaxNode, what: string): number {
    let ms: number;
    try {
      ms = parseDurationMs(this.src(n));
    } catch (err) {
      return this.fail((err as Error).message, n.from);
    }
    if (!Number.isInteger(ms))
      this.unsupported(`a ${what} that is not a whole number of milliseconds`, n.from);
    return ms;
  }

  number(n: SyntaxNode): number {
    const v = Number(this.src(n));
    if (Number.isNaN(v)) this.fail(`syntax error: invalid number ${this.src(n)}`, n.from);
    return v;
  }

  labelName(n: SyntaxNode): string {
    const name = this.src(n);
    if (!LABEL_NAME.test(name)) this.fail(`invalid label name "${name}"`, n.from);
    return name;
  }

  // ---- top level ----

  query(root: SyntaxNode): Query {
    const expr = this.need(root, 'Expr');
    const log = this.kid(expr, 'LogExpr');
    if (log) return { kind: 'log', selector: this.logExpr(log) };
    const metric = this.kid(expr, 'MetricExpr');
    if (!metric) this.fail('syntax error: unexpected end of query', this.text.length);
    return { kind: 'metric', expr: this.metric(metric) };
  }

  logExpr(n: SyntaxNode): LogSelector {
    if (this.src(n).trimStart().startsWith('(')) this.unsupported('a parenthesized log query', n.from);
    const matchers = this.selector(this.need(n, 'Selector'));
    const pipeline = this.kid(n, 'PipelineExpr');
    return { matchers, stages: pipeline ? this.pipeline(pipeline) : [] };
  }

  selector(n: SyntaxNode): Matcher[] {
    const out: Matcher[] = [];
    const walk = (m: SyntaxNode) => {
      for (const c of this.kids(m)) {
        if (c.name === 'Matchers') walk(c);
        else if (c.name === 'Matcher') out.push(this.matcher(c));
      }
    };
    const list = this.kid(n, 'Matchers');
    if (list) walk(list);
    if (out.length === 0) this.fail('syntax error: a stream selector needs at least one matcher', n.from);
    checkSelector(out, this.text);
    return out;
  }

  matcher(n: SyntaxNode): Matcher {
    const [id, op, value] = this.kids(n);
    if (!id || !op || !value || value.name !== 'String') this.fail('syntax error: invalid matcher', n.from);
    const m: Matcher = {
      name: this.labelName(id),
      op: MATCH_OPS[op.name] as MatchOp,
      value: this.str(value),
      pos: n.from,
    };
    if (m.op === '=~' || m.op === '!~') this.checkRegex(m.value, true, value.from);
    return m;
  }

  checkRegex(pattern: string, anchored: boolean, pos: number): void {
    try {
      translateRegex(pattern, anchored);
    } catch (err) {
      if (err instanceof RegexError)
        this.fail(`invalid regular expression "${pattern}": ${err.message}`, pos);
      throw err;
    }
  }

  // ---- pipeline ----

  pipeline(n: SyntaxNode): Stage[] {
    const out: Stage[] = [];
    const walk = (p: SyntaxNode) => {
      for (const c of this.kids(p)) {
        if (c.name === 'PipelineExpr') walk(c);
        else if (c.name === 'PipelineStage') this.stage(c, out);
      }
    };
    walk(n);
    return out;
  }

  stage(n: SyntaxNode, out: Stage[]): void {
    for (const c of this.kids(n)) {
      switch (c.name) {
        case 'Pipe':
          break;
        case 'LineFilters':
          this.lineFilters(c, out);
          break;
        case 'LabelParser':
          if (!c.getChild('Json')) this.unsupported(`the ${this.src(c)} parser`, c.from);
          out.push({ kind: 'json', pos: c.from });
          break;
        case 'JsonExpressionParser':
          out.push({ kind: 'json', extractions: this.jsonExtractions(c), pos: c.from });
          break;
        case 'LabelFilter':
          out.push({ kind: 'label_filter', expr: this.labelFilter(c), pos: c.from });
          break;
        case 'LineFormatExpr':
          out.push({ kind: 'line_format', template: this.str(this.need(c, 'String')), pos: c.from });
          break;
        case 'LabelFormatExpr':
          out.push({ kind: 'label_format', items: this.labelFormat(c), pos: c.from });
          break;
        case 'DropLabelsExpr':
          out.push({ kind: 'drop', items: this.labelItems(c, 'DropLabels', 'DropLabel'), pos: c.from });
          break;
        case 'KeepLabelsExpr':
          out.push({ kind: 'keep', items: this.labelItems(c, 'KeepLabels', 'KeepLabel'), pos: c.from });
          break;
        case 'LogfmtParser':
        case 'LogfmtExpressionParser':
          this.unsupported('the logfmt parser', c.from);
          break;
        case 'DecolorizeExpr':
          this.unsupported('decolorize', c.from);
          break;
        default:
          this.unsupported(`"${this.src(c)}"`, c.from);
      }
    }
  }

  lineFilters(n: SyntaxNode, out: Stage[]): void {
    for (const c of this.kids(n)) {
      if (c.name === 'LineFilters') this.lineFilters(c, out);
      else if (c.name === 'LineFilter') {
        const filter = this.need(c, 'Filter');
        const opNode = filter.firstChild;
        const op = ({ PipeExact: '|=', PipeMatch: '|~', Neq: '!=', Nre: '!~' } as const)[opNode?.name ?? ''];
        if (!op) this.unsupported(`the line filter ${this.src(filter)}`, c.from);
        if (c.getChild('FilterOp')) this.unsupported('ip() line filters', c.from);
        const values: string[] = [];
        const strings = (m: SyntaxNode) => {
          for (const k of this.kids(m)) {
            if (k.name === 'String') values.push(this.str(k));
            else if (k.name === 'OrFilter') strings(k);
          }
        };
        strings(c);
        if (op === '|~' || op === '!~') for (const v of values) this.checkRegex(v, false, c.from);
        out.push({ kind: 'line_filter', op, values, pos: c.from });
      }
    }
  }

  jsonExtractions(n: SyntaxNode): JsonExtraction[] {
    const out: JsonExtraction[] = [];
    const walk = (m: SyntaxNode) => {
      for (const c of this.kids(m)) {
        if (c.name === 'LabelExtractionExpressionList') walk(c);
        else if (c.name === 'LabelExtractionExpression') {
          const id = this.need(c, 'Identifier');
          const expr = c.getChild('String');
          const label = this.labelName(id);
          const pathText = expr ? this.str(expr) : label;
          const path = parseJsonPath(pathText);
          if (!path) this.fail(`invalid JSON expression "${pathText}"`, (expr ?? id).from);
          out.push({ label, path });
        }
      }
    };
    walk(n);
    return out;
  }

  labelFilter(n: SyntaxNode): LabelFilterExpr {
    const kids = this.kids(n);
    const filters = kids.filter((k) => k.name === 'LabelFilter');
    if (filters.length === 2) {
      const conj = kids.find((k) => k.name === 'And' || k.name === 'Or');
      return {
        kind: conj?.name === 'Or' ? 'or' : 'and',
        left: this.labelFilter(filters[0] as SyntaxNode),
        right: this.labelFilter(filters[1] as SyntaxNode),
      };
    }
    if (filters.length === 1) return this.labelFilter(filters[0] as SyntaxNode); // parentheses
    const c = kids[0];
    if (!c) this.fail('syntax error: empty label filter', n.from);
    if (c.name === 'Matcher') {
      const m = this.matcher(c);
      return { kind: 'match', matcher: m };
    }
    if (c.name === 'IpLabelFilter') this.unsupported('ip() label filters', c.from);
    const unit = c.name === 'UnitFilter' ? c.firstChild : c;
    if (!unit) this.fail('syntax error: invalid label filter', c.from);
    const [id, op, value] = this.kids(unit);
    if (!id || !op || !value) this.fail('syntax error: invalid label filter', unit.from);
    const cmp = CMP_OPS[op.name];
    if (!cmp) this.fail(`syntax error: unexpected ${this.src(op)}`, op.from);
    const name = this.labelName(id);
    if (unit.name === 'NumberFilter') {
      return { kind: 'number', name, op: cmp, value: this.literal(value), pos: unit.from };
    }
    if (unit.name === 'DurationFilter') {
      let ms: number;
      try {
        ms = parseDurationMs(this.src(value));
      } catch (err) {
        return this.fail((err as Error).message, value.from);
      }
      return { kind: 'duration', name, op: cmp, value: ms / 1000, pos: unit.from };
    }
    if (unit.name === 'BytesFilter') {
      let b: number;
      try {
        b = parseBytes(this.src(value));
      } catch (err) {
        return this.fail((err as Error).message, value.from);
      }
      return { kind: 'bytes', name, op: cmp, value: b, pos: unit.from };
    }
    return this.unsupported(`the label filter ${this.src(n)}`, n.from);
  }

  labelFormat(n: SyntaxNode): LabelFormatItem[] {
    const out: LabelFormatItem[] = [];
    const walk = (m: SyntaxNode) => {
      for (const c of this.kids(m)) {
        if (c.name === 'LabelsFormat') walk(c);
        else if (c.name === 'LabelFormatMatcher') {
          const [dst, , value] = this.kids(c);
          if (!dst || !value) this.fail('syntax error: invalid label_format', c.from);
          const item: LabelFormatItem = { dst: this.labelName(dst) };
          if (value.name === 'String') item.template = this.str(value);
          else item.src = this.labelName(value);
          out.push(item);
        }
      }
    };
    walk(n);
    return out;
  }

  labelItems(n: SyntaxNode, list: string, item: string): LabelSelectItem[] {
    const out: LabelSelectItem[] = [];
    const walk = (m: SyntaxNode) => {
      for (const c of this.kids(m)) {
        if (c.name === list) walk(c);
        else if (c.name === item) {
          const matcher = c.getChild('Matcher');
          if (matcher) {
            const mm = this.matcher(matcher);
            out.push({ name: mm.name, matcher: mm });
          } else out.push({ name: this.labelName(this.need(c, 'Identifier')) });
        }
      }
    };
    walk(n);
    return out;
  }

  // ---- metric expressions ----

  metric(n: SyntaxNode): MetricExpr {
    const kids = this.kids(n);
    const c = kids[0];
    if (!c) this.fail('syntax error: unexpected end of query', n.from);
    switch (c.name) {
      case 'MetricExpr':
        return this.metric(c);
      case 'RangeAggregationExpr':
        return this.rangeAgg(c);
      case 'VectorAggregationExpr':
        return this.vectorAgg(c);
      case 'BinOpExpr':
        return this.binary(c);
      case 'LiteralExpr':
        return { kind: 'literal', value: this.literal(c) };
      case 'VectorExpr':
        return { kind: 'vector', value: this.number(this.need(c, 'Number')) };
      case 'LabelReplaceExpr':
        return this.unsupported('label_replace', c.from);
      default:
        return this.unsupported(`"${this.src(c)}"`, c.from);
    }
  }

  literal(n: SyntaxNode): number {
    const num = n.name === 'Number' ? n : this.need(n, 'Number');
    const v = this.number(num);
    return n.getChild('Sub') ? -v : v;
  }

  grouping(n: SyntaxNode): Grouping {
    const labels: string[] = [];
    const walk = (m: SyntaxNode) => {
      for (const c of this.kids(m)) {
        if (c.name === 'Labels') walk(c);
        else if (c.name === 'Identifier') labels.push(this.labelName(c));
      }
    };
    const list = n.getChild('Labels');
    if (list) walk(list);
    return { without: !!n.getChild('Without'), labels };
  }

  rangeAgg(n: SyntaxNode): RangeAggregation {
    const opNode = this.need(n, 'RangeOp');
    const fn = this.src(opNode) as RangeFunction;
    if (!(RANGE_FUNCTIONS as readonly string[]).includes(fn)) this.unsupported(fn, opNode.from);
    const range = this.need(n, 'LogRangeExpr');
    const agg: RangeAggregation = {
      kind: 'range',
      fn,
      selector: { matchers: [], stages: [] },
      rangeMs: 0,
      offsetMs: 0,
      pos: n.from,
    };
    const param = n.getChild('Number');
    if (fn === 'quantile_over_time') {
      if (!param) this.fail('syntax error: quantile_over_time needs a quantile parameter', n.from);
      agg.param = this.number(param);
    } else if (param) this.fail(`syntax error: ${fn} takes no parameter`, param.from);
    const grouping = n.getChild('Grouping');
    if (grouping) {
      if (!UNWRAP_FUNCTIONS.has(fn)) this.fail(`grouping not allowed for ${fn} aggregation`, grouping.from);
      agg.grouping = this.grouping(grouping);
    }
    const stages: Stage[] = [];
    for (const c of this.kids(range)) {
      if (c.name === 'Selector') agg.selector.matchers = this.selector(c);
      else if (c.name === 'PipelineExpr') stages.push(...this.pipeline(c));
      else if (c.name === 'Range') {
        agg.rangeMs = this.duration(this.need(c, 'Duration'), 'range');
        if (agg.rangeMs <= 0) this.fail('syntax error: the range must be positive', c.from);
      } else if (c.name === 'OffsetExpr') agg.offsetMs = this.duration(this.need(c, 'Duration'), 'offset');
      else if (c.name === 'UnwrapExpr') agg.unwrap = this.unwrap(c);
      else if (c.name === 'LogExpr' || c.name === 'MetricExpr')
        this.unsupported('a parenthesized log query', c.from);
    }
    agg.selector.stages = stages;
    if (UNWRAP_FUNCTIONS.has(fn) && !agg.unwrap)
      this.fail(`invalid aggregation ${fn} without unwrap`, n.from);
    if (!UNWRAP_FUNCTIONS.has(fn) && agg.unwrap) this.fail(`invalid aggregation ${fn} with unwrap`, n.from);
    return agg;
  }

  unwrap(n: SyntaxNode): Unwrap {
    const inner = n.getChild('UnwrapExpr');
    if (inner) {
      const u = this.unwrap(inner);
      const f = n.getChild('LabelFilter');
      if (f) u.filters.push(this.labelFilter(f));
      return u;
    }
    const conv = n.getChild('ConvOp');
    return {
      label: this.labelName(this.need(n, 'Identifier')),
      conversion: conv ? (CONVERSIONS[conv.firstChild?.name ?? ''] ?? 'none') : 'none',
      filters: [],
    };
  }

  vectorAgg(n: SyntaxNode): MetricExpr {
    const opNode = this.need(n, 'VectorOp');
    const op = this.src(opNode).toLowerCase();
    if (!VECTOR_OPS.has(op)) this.unsupported(op, opNode.from);
    const inner = this.need(n, 'MetricExpr');
    const out: MetricExpr = { kind: 'vector_agg', op: op as VectorOp, expr: this.metric(inner), pos: n.from };
    const grouping = n.getChild('Grouping');
    if (grouping) out.grouping = this.grouping(grouping);
    const param = n.getChild('Number');
    if (op === 'topk' || op === 'bottomk') {
      if (!param) this.fail(`syntax error: ${op} needs a parameter`, n.from);
      const k = this.number(param);
      if (!Number.isInteger(k) || k <= 0)
        this.fail(`invalid parameter ${this.src(param)} for ${op}: must be a positive integer`, param.from);
      out.param = k;
    } else if (param) this.fail(`syntax error: ${op} takes no parameter`, param.from);
    return out;
  }

  /** A chain of binary operators, regrouped by precedence (the grammar nests them left to right). */
  binary(n: SyntaxNode): MetricExpr {
    const operands: MetricExpr[] = [];
    const ops: { op: BinaryOp; bool: boolean; matching?: VectorMatching; pos: number }[] = [];
    const collect = (b: SyntaxNode) => {
      for (const c of this.kids(b)) {
        if (c.name === 'Expr') {
          const m = this.need(c, 'MetricExpr');
          const direct = m.firstChild;
          if (direct?.name === 'BinOpExpr') collect(direct);
          else operands.push(this.metric(m));
        } else if (c.name === 'BinOpModifier') {
          const last = ops[ops.length - 1];
          if (last) this.modifier(c, last);
        } else if (BIN_OPS[c.name]) ops.push({ op: BIN_OPS[c.name] as BinaryOp, bool: false, pos: c.from });
      }
    };
    collect(n);
    if (operands.length !== ops.length + 1) this.fail('syntax error: incomplete binary expression', n.from);
    let i = 0;
    // Precedence climbing; ^ is right-associative, the others left-associative.
    const parse = (minPrec: number): MetricExpr => {
      let left = operands[i] as MetricExpr;
      while (i < ops.length) {
        const o = ops[i] as (typeof ops)[number];
        const p = PRECEDENCE[o.op];
        if (p < minPrec) break;
        i++;
        const right = parse(o.op === '^' ? p : p + 1);
        left = { kind: 'binary', op: o.op, bool: o.bool, left, right, pos: o.pos };
        if (o.matching) left.matching = o.matching;
        checkBinary(left, this.text);
      }
      return left;
    };
    return parse(0);
  }

  modifier(n: SyntaxNode, into: { op: BinaryOp; bool: boolean; matching?: VectorMatching }): void {
    if (n.getChild('Bool')) into.bool = true;
    if (n.getChild('GroupLeft') || n.getChild('GroupRight'))
      this.unsupported('group_left/group_right', n.from);
    const oi = n.getChild('OnOrIgnoringModifier');
    if (oi) {
      const labels: string[] = [];
      for (const l of oi
        .getChild('GroupingLabels')
        ?.getChild('GroupingLabelList')
        ?.getChildren('GroupingLabel') ?? []) {
        labels.push(this.labelName(l));
      }
      into.matching = { on: !!oi.getChild('On'), labels };
    }
  }
}

/** Loki's checks on a binary expression's operand kinds. */
function checkBinary(e: MetricExpr, text: string): void {
  if (e.kind !== 'binary') return;
  const scalar = (x: MetricExpr) => x.kind === 'literal';
  const pos = e.pos;
  const where = lineCol(text, pos);
  const isSet = e.op === 'and' || e.op === 'or' || e.op === 'unless';
  const isCmp = ['==', '!=', '>', '>=', '<', '<='].includes(e.op);
  if (isSet && (scalar(e.left) || scalar(e.right))) {
    throw new QueryError(
      `parse error at ${where}: set operator "${e.op}" not allowed in binary scalar expression`,
      pos,
    );
  }
  if (e.bool && !isCmp)
    throw new QueryError(
      `parse error at ${where}: bool modifier can only be used on comparison operators`,
      pos,
    );
  if (isCmp && !e.bool && scalar(e.left) && scalar(e.right)) {
    throw new QueryError(`parse error at ${where}: comparisons between scalars must use BOOL modifier`, pos);
  }
  if (e.matching && (scalar(e.left) || scalar(e.right))) {
    throw new QueryError(
      `parse error at ${where}: vector matching only allowed between instant vectors`,
      pos,
    );
  }
}

/** Loki refuses selectors whose every matcher also matches an absent label. */
function checkSelector(matchers: Matcher[], text: string): void {
  const nonEmpty = matchers.some((m) => {
    if (m.op === '=') return m.value !== '';
    if (m.op === '=~') return !new RegExp(translateRegex(m.value, true)).test('');
    return false;
  });
  if (!nonEmpty) {
    const pos = matchers[0]?.pos ?? 0;
    throw new QueryError(
      `parse error at ${lineCol(text, pos)}: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will`,
      pos,
    );
  }
}

/** `a.b[0]["c d"]` -> ['a', 'b', 0, 'c d'], undefined when malformed. */
export function parseJsonPath(text: string): (string | number)[] | undefined {
  const out: (string | number)[] = [];
  let i = 0;
  const s = text;
  const ident = /[A-Za-z_][A-Za-z0-9_-]*/y;
  while (i < s.length) {
    if (s[i] === '[') {
      const m = /^\[\s*(?:(\d+)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]/.exec(s.slice(i));
      if (!m) return undefined;
      if (m[1] !== undefined) out.push(Number(m[1]));
      else out.push((m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
      i += m[0].length;
      continue;
    }
    if (s[i] === '.') {
      if (out.length === 0) return undefined;
      i++;
    }
    ident.lastIndex = i;
    const m = ident.exec(s);
    if (!m) return undefined;
    out.push(m[0]);
    i += m[0].length;
  }
  return out.length > 0 ? out : undefined;
}

/** The first syntax error in the tree, as Loki words it. */
function syntaxError(text: string, root: SyntaxNode): QueryError | undefined {
  let found: SyntaxNode | undefined;
  const cursor = root.cursor();
  do {
    if (cursor.type.isError) {
      found = cursor.node;
      break;
    }
  } while (cursor.next());
  if (!found) return undefined;
  const pos = found.from;
  const rest = text.slice(pos);
  const token = /^\s*([A-Za-z_][A-Za-z0-9_]*|\d[\w.]*|"(?:[^"\\]|\\.)*"?|`[^`]*`?|[=!]~|[|!=<>]=|\S)/.exec(
    rest,
  )?.[1];
  const what = token === undefined ? 'end of query' : JSON.stringify(token);
  return new QueryError(`parse error at ${lineCol(text, pos)}: syntax error: unexpected ${what}`, pos);
}

/** Parses a LogQL query of the supported subset; throws QueryError (with its position) otherwise. */
export function parseQuery(text: string): Query {
  if (text.trim() === '') throw new QueryError('parse error at line 1, col 1: syntax error: empty query', 0);
  let tree: ReturnType<typeof parser.parse>;
  try {
    tree = parser.parse(text);
  } catch (err) {
    throw new QueryError(`parse error: ${(err as Error).message}`);
  }
  const err = syntaxError(text, tree.topNode);
  if (err) throw err;
  try {
    return new Parser(text).query(tree.topNode);
  } catch (e) {
    if (e instanceof QueryError) throw e;
    if (e instanceof LiteralError || e instanceof RegexError)
      throw new QueryError(`parse error: ${e.message}`);
    throw e;
  }
}
