/**
 * The contract between the LogQL engine (src/query), the HTTP API (src/server), federation and the CLI.
 * Shapes follow Loki's HTTP API so a response can be sent as is.
 *
 * Labels of a stored event (the embedded store mirrors what the Loki sink pushes):
 *   indexed (the stream):   service ("claude-telemetry"), host, project, event_type, level
 *   structured metadata:    session_id, tool, tool_use_id, agent_id, agent_type, hook_event, scope,
 *                           outside_project_scope ("true" | "false"), user
 *   seed aliases, accepted in selectors and label filters: event = event_type, session = session_id
 *   (a `session` value may be a unique prefix of an id, as the seed's own examples shorten ids).
 * Unlike Loki, a selector may name any of these labels, because every one of them is a store column.
 * Without `categorize-labels`, metadata is folded into the stream labels, as Loki does.
 */

/** Nanoseconds since the epoch. */
export type Nanos = bigint;

export interface RangeQueryRequest {
  query: string;
  start: Nanos;
  /** Exclusive. */
  end: Nanos;
  /** Log lines only. */
  limit: number;
  direction: 'forward' | 'backward';
  /** Metric queries: step in ms. */
  stepMs: number;
  /** The client sent `X-Loki-Response-Encoding-Flags: categorize-labels`. */
  categorizeLabels: boolean;
}

export interface InstantQueryRequest {
  query: string;
  time: Nanos;
  limit: number;
  direction: 'forward' | 'backward';
  categorizeLabels: boolean;
}

export type Labels = Record<string, string>;

/** [ns as string, line] or, with categorize-labels, [ns, line, {structuredMetadata?, parsed?}]. */
export type StreamValue =
  | [string, string]
  | [string, string, { structuredMetadata?: Labels; parsed?: Labels }];

export interface StreamResult {
  stream: Labels;
  values: StreamValue[];
}

export interface MatrixResult {
  metric: Labels;
  /** [seconds, value as string], oldest first. */
  values: [number, string][];
}

export interface VectorResult {
  metric: Labels;
  value: [number, string];
}

export interface QueryStats {
  summary: {
    execTime: number;
    totalEntriesReturned: number;
    totalLinesProcessed: number;
    totalBytesProcessed: number;
    [k: string]: number;
  };
  [k: string]: unknown;
}

export type QueryData =
  | { resultType: 'streams'; result: StreamResult[]; stats: QueryStats; encodingFlags?: string[] }
  | { resultType: 'matrix'; result: MatrixResult[]; stats: QueryStats }
  | { resultType: 'vector'; result: VectorResult[]; stats: QueryStats }
  | { resultType: 'scalar'; result: [number, string]; stats: QueryStats };

/** `{"status":"success","data":...}` as Loki answers query and query_range. */
export interface QueryResponse {
  status: 'success';
  data: QueryData;
}

/** A bad query or bad parameters: the API answers 400 with `message` (which names the broken part). */
export class QueryError extends Error {
  override name = 'QueryError';
  constructor(
    message: string,
    /** Offset in the query text where the problem is, when known. */
    readonly position?: number,
  ) {
    super(message);
  }
}

/** A query that hit a limit (time range, series, lines, timeout): also 400, as Loki does. */
export class QueryLimitError extends QueryError {
  override name = 'QueryLimitError';
}

export interface QueryLimits {
  /** Longest time range a query may span, ms (Loki: max_query_length 30d1h). */
  maxRangeMs: number;
  /** Most series a metric query may return. */
  maxSeries: number;
  /** Most log lines one query may return (the `limit` parameter is capped at this). */
  maxLines: number;
  /** Wall time after which a query is abandoned, ms. */
  timeoutMs: number;
  /** Most points per series (range / step). */
  maxPoints: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxRangeMs: (30 * 24 + 1) * 3_600_000,
  maxSeries: 5_000,
  maxLines: 5_000,
  timeoutMs: 30_000,
  maxPoints: 11_000,
};
