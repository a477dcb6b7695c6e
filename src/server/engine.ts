/**
 * What the API asks of a LogQL engine: src/query's QueryEngine, or anything shaped like it (a federated
 * engine answers with promises). Bad queries throw QueryError (400).
 */
import type {
  IndexStats,
  InstantQueryRequest,
  Labels,
  QueryResponse,
  RangeQueryRequest,
  TailBatch,
  TimeBounds,
} from '../query/index.ts';

type Maybe<T> = T | Promise<T>;

export interface ApiEngine {
  rangeQuery(req: RangeQueryRequest): Maybe<QueryResponse>;
  instantQuery(req: InstantQueryRequest): Maybe<QueryResponse>;
  labels(req: TimeBounds & { query?: string }): Maybe<string[]>;
  labelValues(name: string, req: TimeBounds & { query?: string }): Maybe<string[]>;
  series(req: TimeBounds & { match: string[] }): Maybe<Labels[]>;
  indexStats(req: TimeBounds & { query: string }): Maybe<IndexStats>;
  tail(query: string, afterSeq: number, limit: number): Maybe<TailBatch>;
}
