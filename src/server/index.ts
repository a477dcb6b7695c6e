/**
 * The Loki-compatible HTTP API on node:http: push, query_range, query, labels, label values, series,
 * index/stats, tail (WebSocket), ready and buildinfo. Binds to 127.0.0.1:3100 unless told otherwise.
 *
 *   const api = await startApiServer({ store, pipeline, engine, port: 0 });
 *   api.port; api.url; await api.close();
 */
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type FleetSource, fleetSourceOf } from '../agents/federated.ts';
import { GUARD_PATH } from '../capture/settings.ts';
import { TELEMETRY_VERSION } from '../collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../config/config.ts';
import { guardRoute } from '../detect/guard.ts';
import { QueryError } from '../query/api.ts';
import type { Federation } from '../query/federation.ts';
import { WireFormatError } from '../sinks/loki-wire.ts';
import { Store } from '../store/index.ts';
import type { OtelSink } from '../usage/otel.ts';
import type { ApiEngine } from './engine.ts';
import { FEDERATED_PREFIX, federatedEngine, fleetRoutes } from './federated.ts';
import { Router, sendJson, sendText } from './http.ts';
import { HttpError } from './http-errors.ts';
import { registerOtlpRoutes } from './otlp-receiver.ts';
import { type EventSink, pushHandler } from './push.ts';
import { queryRoutes } from './query-routes.ts';
import { TailHub } from './tail.ts';

export { HttpError } from './http-errors.ts';

export const DEFAULT_API_HOST = DEFAULT_CONFIG.server.host;
export const DEFAULT_API_PORT = DEFAULT_CONFIG.server.port;
export const DEFAULT_MAX_BODY_BYTES = DEFAULT_CONFIG.server.maxBodyBytes;
/** Reported as the Loki version so Grafana enables what it gates on Loki 3 (structured metadata, ...). */
export const LOKI_COMPAT_VERSION = '3.0.0';

export const TAIL_PATH = '/loki/api/v1/tail';

export interface ApiServerOptions {
  store: { maxSeq(): number };
  /** Where pushed entries go (the collector's Pipeline). */
  pipeline: EventSink;
  /**
   * The LogQL engine behind the read routes and the tail. Without one (a push-only relay, or while the
   * collector is still opening its engine) those routes answer 503.
   */
  engine?: ApiEngine;
  /** Where Claude Code's own OTLP export goes (POST /v1/logs, /v1/metrics); without one those routes are 404. */
  otel?: OtelSink;
  /** Instances to fan queries out to, served under /federated (the same Loki routes). */
  federation?: Federation;
  /**
   * The store the fleet routes answer for (/api/fleet/...), with its prices; by default `store` when it is a
   * Store, priced by the config.yaml of its data dir.
   */
  fleet?: FleetSource;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest request body, compressed or decoded (413 above it). */
  maxBodyBytes?: number;
  /** Tail poll interval, ms. */
  tailPollMs?: number;
  log?: (msg: string) => void;
}

export interface ApiServer {
  host: string;
  port: number;
  /** http://host:port */
  url: string;
  /** Stops accepting, closes tails (1001) and open connections. */
  close(): Promise<void>;
}

export function buildInfo() {
  return {
    version: LOKI_COMPAT_VERSION,
    revision: `claude-agent-telemetry-${TELEMETRY_VERSION}`,
    branch: '',
    buildUser: '',
    buildDate: '',
    goVersion: '',
    claude_telemetry_version: TELEMETRY_VERSION,
  };
}

const noEngine = () => {
  throw new HttpError(503, 'query engine not available: this server only accepts pushes');
};

function apiRouter(opts: ApiServerOptions, maxBodyBytes: number): Router {
  const q = opts.engine
    ? queryRoutes(opts.engine, maxBodyBytes)
    : {
        queryRange: noEngine,
        instantQuery: noEngine,
        labels: noEngine,
        labelValues: noEngine,
        series: noEngine,
        indexStats: noEngine,
      };
  const read = ['GET', 'POST'];
  const router = new Router()
    .on('GET', '/ready', ({ res }) => sendText(res, 200, 'ready'))
    .on('GET', '/loki/api/v1/status/buildinfo', ({ req, res }) => sendJson(req, res, buildInfo()))
    .on('POST', '/loki/api/v1/push', pushHandler(opts.pipeline, maxBodyBytes))
    .on('POST', GUARD_PATH, guardRoute(opts.pipeline))
    .on(read, '/loki/api/v1/query_range', q.queryRange)
    .on(read, '/loki/api/v1/query', q.instantQuery)
    .on(read, '/loki/api/v1/labels', q.labels)
    .on(read, '/loki/api/v1/label', q.labels)
    .on(read, '/loki/api/v1/label/:name/values', q.labelValues)
    .on(read, '/loki/api/v1/series', q.series)
    .on(read, '/loki/api/v1/index/stats', q.indexStats)
    .on('GET', TAIL_PATH, () => {
      throw new HttpError(400, 'tail is a WebSocket endpoint: send an Upgrade: websocket request');
    });
  if (opts.otel) registerOtlpRoutes(router, opts.otel, maxBodyBytes);
  const fleet = opts.fleet ?? (opts.store instanceof Store ? fleetSourceOf(opts.store) : undefined);
  if (fleet) fleetRoutes(router, fleet, opts.federation);
  if (opts.federation) {
    const f = queryRoutes(federatedEngine(opts.federation), maxBodyBytes);
    const p = `${FEDERATED_PREFIX}/loki/api/v1`;
    router
      .on('GET', `${FEDERATED_PREFIX}/ready`, ({ res }) => sendText(res, 200, 'ready'))
      .on('GET', `${p}/status/buildinfo`, ({ req, res }) => sendJson(req, res, buildInfo()))
      .on(read, `${p}/query_range`, f.queryRange)
      .on(read, `${p}/query`, f.instantQuery)
      .on(read, `${p}/labels`, f.labels)
      .on(read, `${p}/label`, f.labels)
      .on(read, `${p}/label/:name/values`, f.labelValues)
      .on(read, `${p}/series`, f.series);
  }
  return router;
}

/** The status and message an error becomes; anything unexpected is a 500 without details. */
function errorResponse(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof QueryError || err instanceof WireFormatError) return new HttpError(400, err.message);
  return new HttpError(500, 'internal server error');
}

function writeError(res: ServerResponse, err: unknown, log: (msg: string) => void): void {
  const e = errorResponse(err);
  if (e.status === 500) log(`api: ${(err as Error)?.stack ?? String(err)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, e.status, e.message, e.headers);
}

/** A response to an upgrade request that is not accepted, written on the raw socket. */
function rejectUpgrade(socket: Duplex, e: HttpError): void {
  if (socket.destroyed) return;
  const body = `${e.message}\n`;
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Browsers let any page open a WebSocket to localhost, so a tail must not answer a page from another origin:
 * requests without Origin (Grafana's backend, logcli) or from this very host are accepted.
 */
function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? DEFAULT_API_HOST;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = opts.log ?? (() => {});
  const router = apiRouter(opts, maxBodyBytes);
  const tails = opts.engine
    ? new TailHub(opts.store, opts.engine, { pollMs: opts.tailPollMs, log })
    : undefined;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = router.match(req.method ?? 'GET', url.pathname);
    if (m instanceof HttpError) {
      req.resume();
      writeError(res, m, log);
      return;
    }
    Promise.resolve()
      .then(() => m.handler({ req, res, url, path: m.path }))
      .catch((err) => writeError(res, err, log));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== TAIL_PATH) return rejectUpgrade(socket, new HttpError(404, '404 page not found'));
    if (!originAllowed(req)) return rejectUpgrade(socket, new HttpError(403, 'cross-origin tail refused'));
    if (!tails) return rejectUpgrade(socket, new HttpError(503, 'query engine not available'));
    tails.upgrade(req, socket, head, url).catch((err) => {
      const e = errorResponse(err);
      if (e.status === 500) log(`api: tail: ${(err as Error)?.stack ?? String(err)}`);
      rejectUpgrade(socket, e);
    });
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_API_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? DEFAULT_API_PORT);
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `http://${urlHost}:${port}`,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await tails?.close();
        server.closeIdleConnections();
        // Requests still running get a moment to finish, then their connections are cut.
        const cut = setTimeout(() => server.closeAllConnections(), 2000);
        await stopped;
        clearTimeout(cut);
      })();
      return closing;
    },
  };
}
