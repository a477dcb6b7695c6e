/**
 * The LogQL subset as a typed tree: what the parser produces from Grafana's grammar and what the planner
 * and evaluator consume. Offsets (`pos`) point into the query text for error messages.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  pos: number;
}

export type LineFilterOp = '|=' | '!=' | '|~' | '!~';

export interface LineFilterStage {
  kind: 'line_filter';
  op: LineFilterOp;
  /** `|= "a" or "b"`: any of them (for != and !~: none of them). */
  values: string[];
  pos: number;
}

export type CmpOp = '==' | '!=' | '>' | '>=' | '<' | '<=';

/** A label filter: `a="x"`, `n > 5`, `d >= 250ms`, `size < 1MB`, combined with and/or. */
export type LabelFilterExpr =
  | { kind: 'and' | 'or'; left: LabelFilterExpr; right: LabelFilterExpr }
  | { kind: 'match'; matcher: Matcher }
  | { kind: 'number' | 'duration' | 'bytes'; name: string; op: CmpOp; value: number; pos: number };

export interface JsonExtraction {
  label: string;
  /** Path into the JSON: object keys and array indexes. */
  path: (string | number)[];
}

/** One `drop`/`keep` item: a label name, or a matcher (only labels whose value matches). */
export interface LabelSelectItem {
  name: string;
  matcher?: Matcher;
}

export interface LabelFormatItem {
  dst: string;
  /** `dst=src`: rename. */
  src?: string;
  /** `dst="{{...}}"`: template. */
  template?: string;
}

export type Stage =
  | LineFilterStage
  | { kind: 'json'; extractions?: JsonExtraction[]; pos: number }
  | { kind: 'label_filter'; expr: LabelFilterExpr; pos: number }
  | { kind: 'drop' | 'keep'; items: LabelSelectItem[]; pos: number }
  | { kind: 'line_format'; template: string; pos: number }
  | { kind: 'label_format'; items: LabelFormatItem[]; pos: number };

export interface LogSelector {
  matchers: Matcher[];
  stages: Stage[];
}

export type UnwrapConversion = 'none' | 'duration' | 'duration_seconds' | 'bytes';

export interface Unwrap {
  label: string;
  conversion: UnwrapConversion;
  /** Label filters after the unwrap (`| unwrap x | __error__=""`). */
  filters: LabelFilterExpr[];
}

export const RANGE_FUNCTIONS = [
  'count_over_time',
  'rate',
  'bytes_over_time',
  'bytes_rate',
  'absent_over_time',
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'quantile_over_time',
] as const;
export type RangeFunction = (typeof RANGE_FUNCTIONS)[number];

/** Functions that read an unwrapped label's value (and need `| unwrap`). */
export const UNWRAP_FUNCTIONS: ReadonlySet<RangeFunction> = new Set([
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'quantile_over_time',
]);

export interface Grouping {
  without: boolean;
  labels: string[];
}

export type VectorOp = 'sum' | 'avg' | 'min' | 'max' | 'count' | 'topk' | 'bottomk';

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^';
export type ComparisonOp = '==' | '!=' | '>' | '>=' | '<' | '<=';
export type SetOp = 'and' | 'or' | 'unless';
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export interface VectorMatching {
  /** on(...) when true, ignoring(...) when false. */
  on: boolean;
  labels: string[];
}

export interface RangeAggregation {
  kind: 'range';
  fn: RangeFunction;
  /** quantile_over_time's φ. */
  param?: number;
  selector: LogSelector;
  unwrap?: Unwrap;
  rangeMs: number;
  offsetMs: number;
  grouping?: Grouping;
  pos: number;
}

export type MetricExpr =
  | RangeAggregation
  | { kind: 'vector_agg'; op: VectorOp; param?: number; grouping?: Grouping; expr: MetricExpr; pos: number }
  | {
      kind: 'binary';
      op: BinaryOp;
      bool: boolean;
      matching?: VectorMatching;
      left: MetricExpr;
      right: MetricExpr;
      pos: number;
    }
  | { kind: 'literal'; value: number }
  | { kind: 'vector'; value: number };

export type Query = { kind: 'log'; selector: LogSelector } | { kind: 'metric'; expr: MetricExpr };
