/**
 * SQL conditions for the parts of a query SQLite can decide: selector matchers, line filters and label
 * filters on our columns. Each condition is exact (never NULL, absent labels read as ''), so it can stand in
 * for the JavaScript stage it replaces; `undefined` means "not expressible, evaluate in JavaScript".
 *
 * The same condition text runs on `events` and on `rollup_minute` when it only names rollup columns; the
 * builder records whether that holds.
 */

import { QueryError } from './api.ts';
import type { LabelFilterExpr, LineFilterStage, Matcher } from './ast.ts';
import { ALIASES, LABELS_BY_NAME, type LabelDef } from './labels.ts';
import { literalForm, translateRegex } from './regex.ts';

export interface SqlCondition {
  sql: string;
  params: unknown[];
}

export interface SqlScope {
  /** Label names some pushed line in the queried time range carries as a foreign label or metadata. */
  shadowed: ReadonlySet<string>;
  /** The full session id for a `session` value (a unique prefix), or the value itself. */
  resolveSession(value: string): string;
}

/**
 * A label's text value in SQL (NULL or '' when absent): a pushed line's own label or metadata of that name
 * first when some line in the span carries one (`shadowed`), then our column.
 */
export function labelValueSql(name: string, shadowed: ReadonlySet<string>): string {
  const own = LABELS_BY_NAME.get(name)?.sql;
  if (!shadowed.has(name)) return own ?? 'NULL';
  const path = `'$."${name}"'`;
  const pushed = `nullif(json_extract(extra_labels, ${path}), ''), nullif(json_extract(extra_metadata, ${path}), '')`;
  return `coalesce(${pushed}${own ? `, ${own}` : ''})`;
}

const TRUE: SqlCondition = { sql: '1', params: [] };
const FALSE: SqlCondition = { sql: '0', params: [] };

/** Builds conditions and remembers what they need (REGEXP, columns outside the rollup, an index). */
export class ConditionBuilder {
  needsRegexp = false;
  rollupOk = true;
  /** Equality conditions on indexed columns, by index name, for the planner's choice of scan. */
  readonly indexable = new Set<string>();

  constructor(private readonly scope: SqlScope) {}

  /** A label's value as SQL, or undefined when it is known to be absent on every row. */
  private valueOf(name: string): { sql: string; def?: LabelDef } | undefined {
    const def = LABELS_BY_NAME.get(name);
    if (this.scope.shadowed.has(name)) {
      this.rollupOk = false;
      return { sql: labelValueSql(name, this.scope.shadowed) };
    }
    if (!def) return undefined;
    if (!def.rollup) this.rollupOk = false;
    return { sql: def.sql, def };
  }

  /** `top`: the condition is ANDed with the whole query's (so an index on it may drive the scan). */
  matcher(m: Matcher, top = false): SqlCondition | undefined {
    let name = m.name;
    let value = m.value;
    const alias = ALIASES[name];
    if (alias) {
      // An alias stands for its label unless a pushed line carries a label of the alias's own name.
      if (this.scope.shadowed.has(name)) return undefined;
      if (name === 'session' && (m.op === '=' || m.op === '!=')) value = this.scope.resolveSession(value);
      name = alias;
    }
    const v = this.valueOf(name);
    if (!v) return staticMatch(m.op, value, '') ? TRUE : FALSE;
    if (v.def?.name === 'service' && !v.sql.startsWith('coalesce')) {
      return staticMatch(m.op, value, v.sql.slice(1, -1)) ? TRUE : FALSE;
    }
    const positive = m.op === '=' || m.op === '=~';
    let cond: SqlCondition;
    if (m.op === '=' || m.op === '!=') {
      if (value !== '' && m.op === '=' && v.def) return this.equals(v.def, value, top);
      cond = { sql: `coalesce(${v.sql}, '') = ?`, params: [value] };
    } else {
      const form = literalForm(value, true);
      if (form?.kind === 'any') cond = TRUE;
      else if (form?.kind === 'nonEmpty') cond = { sql: `coalesce(${v.sql}, '') != ''`, params: [] };
      else if (form?.kind === 'alternatives') {
        cond = {
          sql: `coalesce(${v.sql}, '') IN (${form.values.map(() => '?').join(', ')})`,
          params: [...form.values],
        };
      } else {
        this.needsRegexp = true;
        cond = { sql: `coalesce(${v.sql}, '') REGEXP ?`, params: [translateRegex(value, true)] };
      }
    }
    return positive ? cond : not(cond);
  }

  /** label = value (non-empty) on one of our columns: a plain comparison an index can serve. */
  private equals(def: LabelDef, value: string, top: boolean): SqlCondition {
    if (def.column === 'outside_scope') {
      if (value !== 'true' && value !== 'false') return FALSE;
      // Literal 1 so that the partial index (WHERE outside_scope = 1) applies.
      if (value === 'true' && top) this.indexable.add('events_outside_ts');
      return { sql: `outside_scope = ${value === 'true' ? 1 : 0}`, params: [] };
    }
    if (def.index && top) this.indexable.add(def.index);
    return { sql: `${def.column} = ?`, params: [value] };
  }

  lineFilter(f: LineFilterStage): SqlCondition {
    this.rollupOk = false;
    const negative = f.op === '!=' || f.op === '!~';
    const parts: SqlCondition[] = [];
    for (const v of f.values) {
      const form =
        f.op === '|=' || f.op === '!='
          ? { kind: 'alternatives' as const, values: [v] }
          : literalForm(v, false);
      if (form?.kind === 'alternatives') {
        for (const lit of form.values)
          parts.push(lit === '' ? TRUE : { sql: 'instr(line, ?) > 0', params: [lit] });
      } else {
        this.needsRegexp = true;
        parts.push({ sql: 'line REGEXP ?', params: [translateRegex(v, false)] });
      }
    }
    const any = or(parts);
    return negative ? not(any) : any;
  }

  /**
   * A necessary condition for a label filter that follows `| json` (the labels are ours plus what the JSON
   * adds; a label we have is never overwritten, the parser names a clash `_extracted`). For each `label="v"`
   * ANDed at the top: our value is v, or we have none and the line could hold v. Our own lines are JSON as
   * JSON.stringify writes it, which never escapes a value without quotes, backslashes or control characters,
   * so such a v must appear in the line as is; a pushed foreign line (ts_ns set) may escape anything.
   * undefined when no such matcher gives a condition; the filter itself still runs in JavaScript.
   */
  afterJson(e: LabelFilterExpr): SqlCondition | undefined {
    const conds: SqlCondition[] = [];
    const walk = (x: LabelFilterExpr) => {
      if (x.kind === 'and') {
        walk(x.left);
        walk(x.right);
        return;
      }
      if (x.kind !== 'match') return;
      const m = x.matcher;
      // Error labels come from the pipeline, aliases may read another label: neither is in the line.
      if (m.op !== '=' || m.value === '' || m.name.startsWith('__') || ALIASES[m.name]) return;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes.
      if (/["\\\x00-\x1f\ud800-\udfff]/.test(m.value)) return;
      const v = this.valueOf(m.name);
      const inLine: SqlCondition = { sql: '(ts_ns IS NOT NULL OR instr(line, ?) > 0)', params: [m.value] };
      if (!v) {
        conds.push(inLine);
        return;
      }
      const has = `coalesce(${v.sql}, '')`;
      conds.push(
        or([{ sql: `${has} = ?`, params: [m.value] }, and([{ sql: `${has} = ''`, params: [] }, inLine])]),
      );
    };
    walk(e);
    if (conds.length === 0) return undefined;
    this.rollupOk = false;
    return and(conds);
  }

  /** A label filter made only of string matchers; undefined for numeric, duration and byte filters. */
  labelFilter(e: LabelFilterExpr, top = false): SqlCondition | undefined {
    if (e.kind === 'match') return this.matcher(e.matcher, top);
    if (e.kind === 'and' || e.kind === 'or') {
      const l = this.labelFilter(e.left, top && e.kind === 'and');
      const r = this.labelFilter(e.right, top && e.kind === 'and');
      if (!l || !r) return undefined;
      return e.kind === 'and' ? and([l, r]) : or([l, r]);
    }
    return undefined;
  }
}

function staticMatch(op: Matcher['op'], value: string, actual: string): boolean {
  if (op === '=') return actual === value;
  if (op === '!=') return actual !== value;
  const re = new RegExp(translateRegex(value, true));
  return op === '=~' ? re.test(actual) : !re.test(actual);
}

export function not(c: SqlCondition): SqlCondition {
  if (c.sql === '1') return FALSE;
  if (c.sql === '0') return TRUE;
  return { sql: `NOT (${c.sql})`, params: c.params };
}

export function and(cs: SqlCondition[]): SqlCondition {
  if (cs.some((c) => c.sql === '0')) return FALSE;
  const rest = cs.filter((c) => c.sql !== '1');
  if (rest.length === 0) return TRUE;
  if (rest.length === 1) return rest[0] as SqlCondition;
  return { sql: rest.map((c) => `(${c.sql})`).join(' AND '), params: rest.flatMap((c) => c.params) };
}

export function or(cs: SqlCondition[]): SqlCondition {
  if (cs.some((c) => c.sql === '1')) return TRUE;
  const rest = cs.filter((c) => c.sql !== '0');
  if (rest.length === 0) return FALSE;
  if (rest.length === 1) return rest[0] as SqlCondition;
  return { sql: rest.map((c) => `(${c.sql})`).join(' OR '), params: rest.flatMap((c) => c.params) };
}

/** Prefer the scan that reads the fewest rows: a session, then out-of-scope events, then the others. */
const INDEX_PRIORITY = [
  'events_session_ts',
  'events_outside_ts',
  'events_tool_ts',
  'events_hook_ts',
  'events_type_ts',
  'events_project_ts',
];

export function chooseIndex(indexable: ReadonlySet<string>): string {
  return INDEX_PRIORITY.find((i) => indexable.has(i)) ?? 'events_ts';
}

/** An ambiguous `session` prefix is an error rather than a silent choice. */
export function ambiguousSession(value: string): QueryError {
  return new QueryError(`session "${value}" is ambiguous: more than one session id starts with it`);
}
