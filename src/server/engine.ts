/**
 * What the API asks of the LogQL engine (src/query's QueryEngine provides it). Every call may answer
 * synchronously or with a promise; bad queries throw QueryError (400).
 */
import type {
  InstantQueryRequest,
  Labels,
  Nanos,
  QueryResponse,
  RangeQueryRequest,
  StreamResult,
} from '../query/api.ts';

export interface TimeBounds {
  start: Nanos;
  end: Nanos;
}

export interface IndexStats {
  streams: number;
  chunks: number;
  entries: number;
  bytes: number;
}

export interface TailBatch {
  streams: StreamResult[];
  /** Store seq of the last event looked at; the next call continues after it. */
  lastSeq: number;
}

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
