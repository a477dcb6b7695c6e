/**
 * Forwarding to remote engines (Grafana Loki push, OTLP/HTTP logs). Each sink follows the audit log with its own
 * durable cursor and runs on its own async loop with one request in flight, so ingestion never waits for a
 * remote. Usage in the collector:
 *
 *   const sinks = await startSinks(paths, config, () => collector.audit, log);
 *   sinks.notify();                       // after an append (optional: sinks also poll the audit head)
 *   sinks.status();                       // per sink: cursor, lag in entries and seconds, last error/success
 *   await sinks.stop();                   // flushes what it can within a short deadline
 */
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { compileRoutes } from './routes.ts';
import { type AuditSource, Sink, type SinkStatus } from './sink.ts';

export type { ForwardingConfig, HttpAuth, RouteConfig, SinkConfig } from './config.ts';
export { type AuditSource, readCursor, type SinkState, type SinkStatus } from './sink.ts';

export const DEFAULT_STOP_DEADLINE_MS = 3_000;

export interface RunningSinks {
  status(): SinkStatus[];
  notify(): void;
  stop(deadlineMs?: number): Promise<void>;
}

export interface StartSinksOptions {
  /** For tests: the random source of the backoff jitter. */
  random?: () => number;
}

/** `<data dir>/sinks/`: cursor and rejected-entry files, one pair per sink. */
export function sinksDir(paths: Pick<DataPaths, 'home'>): string {
  return join(paths.home, 'sinks');
}

/**
 * Starts every configured sink. `audit` is the collector's audit log, or a function returning the current one
 * (the collector may reopen its log after a failed batch).
 */
export async function startSinks(
  paths: Pick<DataPaths, 'home'>,
  config: Pick<Config, 'sinks' | 'routes'>,
  audit: AuditSource | (() => AuditSource),
  log: (msg: string) => void = () => {},
  options: StartSinksOptions = {},
): Promise<RunningSinks> {
  const source = typeof audit === 'function' ? audit : () => audit;
  const route = compileRoutes(
    config.routes,
    config.sinks.map((s) => s.name),
  );
  const dir = sinksDir(paths);
  const sinks = config.sinks.map(
    (sc) =>
      new Sink(sc, {
        dir,
        source,
        accepts: (event) => route(event).has(sc.name),
        log,
        ...(options.random ? { random: options.random } : {}),
      }),
  );
  for (const sink of sinks) await sink.start();
  return {
    status: () => sinks.map((s) => s.status()),
    notify: () => {
      for (const s of sinks) s.notify();
    },
    stop: async (deadlineMs = DEFAULT_STOP_DEADLINE_MS) => {
      await Promise.all(sinks.map((s) => s.stop(deadlineMs)));
    },
  };
}
