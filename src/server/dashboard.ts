/**
 * The web dashboard's HTTP server (127.0.0.1:3000 by default): the built front end, the read-only Loki routes
 * it calls (query_range, query, labels, label values, series, index/stats, the WebSocket tail) on the same
 * origin, and the views LogQL cannot express cheaply (dashboard-api.ts). No push, no guard: a page can only read.
 *
 * Safety: the Host header must name this server (DNS rebinding), a WebSocket's Origin must be this server,
 * no CORS headers at all, a strict Content-Security-Policy, and a token when bound beyond loopback.
 *
 *   const dash = await startDashboardServer({ store, engine, paths, port: 0 });
 *   dash.url; await dash.close();
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.ts';
import type { DataPaths } from '../config/paths.ts';
import { QueryError } from '../query/api.ts';
import { QueryEngine } from '../query/index.ts';
import type { Store } from '../store/index.ts';
import { Pricing } from '../usage/pricing.ts';
import { dashboardApiRoutes } from './dashboard-api.ts';
import type { ApiEngine } from './engine.ts';
import { Router, sendBody, sendJson, sendText } from './http.ts';
import { HttpError } from './http-errors.ts';
import { buildInfo } from './index.ts';
import { queryRoutes } from './query-routes.ts';
import { TailHub } from './tail.ts';

export const DASHBOARD_TAIL_PATH = '/loki/api/v1/tail';
/** Where a running dashboard writes its address, under the data dir's run/. */
export const DASHBOARD_RUN_FILE = 'dashboard.json';
const TOKEN_COOKIE = 'ct_dashboard';
const MAX_BODY_BYTES = 1024 * 1024;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

export interface DashboardServerOptions {
  store: Store;
  engine: ApiEngine;
  paths: DataPaths;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Required unless host is a loopback address. */
  token?: string;
  /** The built front end (index.html and assets/); found next to the compiled server by default. */
  staticDir?: string;
  tailPollMs?: number;
  /** Token prices for the Fleet view's cost (config.yaml `pricing:`). */
  pricing?: Pricing;
  /** Anomaly risk from which the Analytics view calls a session anomalous (config.yaml `analytics.threshold`). */
  analyticsThreshold?: number;
  log?: (msg: string) => void;
}

export interface DashboardServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The built front end: dist/web next to the compiled server, or the repository's dist/web from source. */
export function defaultStaticDir(): string | undefined {
  const candidates = [
    fileURLToPath(new URL('../web/', import.meta.url)),
    fileURLToPath(new URL('../../dist/web/', import.meta.url)),
  ];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

/** Host header values this server answers: its own address and, on loopback, the loopback names. */
function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set<string>([host.includes(':') ? `[${host}]` : host]);
  if (isLoopback(host)) for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(n);
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return v.join('=');
  }
  return undefined;
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function staticHandler(dir: string | undefined) {
  const root = dir ? normalize(dir + sep) : undefined;
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    if (!root) {
      sendText(res, 503, 'the dashboard front end is not built: run npm run build');
      return;
    }
    const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
    const file = normalize(join(root, rel));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      sendText(res, 404, 'not found');
      return;
    }
    const type = MIME[extname(file)] ?? 'application/octet-stream';
    // Hashed asset names never change content; index.html always revalidates.
    res.setHeader(
      'Cache-Control',
      rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
    await sendBody(req, res, 200, type, readFileSync(file));
  };
}

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host) && !opts.token)
    throw new Error(`dashboard.host ${host} is not a loopback address: set dashboard.token (16+ characters)`);
  const log = opts.log ?? (() => {});
  const q = queryRoutes(opts.engine, MAX_BODY_BYTES);
  const router = new Router()
    // `health` tells our own server from another program on the port by this answer.
    .on('GET', '/loki/api/v1/status/buildinfo', ({ req, res }) => sendJson(req, res, buildInfo()))
    .on('GET', '/loki/api/v1/query_range', q.queryRange)
    .on('GET', '/loki/api/v1/query', q.instantQuery)
    .on('GET', '/loki/api/v1/labels', q.labels)
    .on('GET', '/loki/api/v1/label/:name/values', q.labelValues)
    .on('GET', '/loki/api/v1/series', q.series)
    .on('GET', '/loki/api/v1/index/stats', q.indexStats);
  dashboardApiRoutes(router, {
    store: opts.store,
    paths: opts.paths,
    ...(opts.pricing ? { pricing: opts.pricing } : {}),
    ...(opts.analyticsThreshold !== undefined ? { analyticsThreshold: opts.analyticsThreshold } : {}),
  });
  const serveStatic = staticHandler(opts.staticDir ?? defaultStaticDir());
  const tails = new TailHub(opts.store, opts.engine, { pollMs: opts.tailPollMs ?? 100, log });
  let hosts = new Set<string>();

  /** Host check and token check; an HttpError when the request must not be answered. */
  const admit = (req: IncomingMessage, url: URL): HttpError | undefined => {
    if (!hosts.has((req.headers.host ?? '').toLowerCase()))
      return new HttpError(421, 'unexpected Host header: open the dashboard by its own address');
    if (opts.token) {
      const given = url.searchParams.get('token') ?? cookieToken(req);
      if (given === undefined || !sameToken(given, opts.token)) return new HttpError(401, 'token required');
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refused = admit(req, url);
    if (refused) {
      req.resume();
      sendText(res, refused.status, refused.message);
      return;
    }
    if (opts.token && url.searchParams.has('token'))
      res.setHeader('Set-Cookie', `${TOKEN_COOKIE}=${opts.token}; HttpOnly; SameSite=Strict; Path=/`);
    const m = router.match(req.method ?? 'GET', url.pathname);
    const run =
      m instanceof HttpError
        ? req.method === 'GET' || req.method === 'HEAD'
          ? () => serveStatic(req, res, url.pathname)
          : () => Promise.reject(m)
        : () => Promise.resolve().then(() => m.handler({ req, res, url, path: m.path }));
    run().catch((err) => {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof QueryError
            ? new HttpError(400, err.message)
            : new HttpError(500, 'internal server error');
      if (e.status === 500) log(`dashboard: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) res.destroy();
      else sendText(res, e.status, e.message, e.headers);
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refused = admit(req, url);
    if (refused) return rejectUpgrade(socket, refused.status, refused.message);
    if (url.pathname !== DASHBOARD_TAIL_PATH) return rejectUpgrade(socket, 404, 'not found');
    const origin = req.headers.origin;
    let sameOrigin = false;
    try {
      sameOrigin = origin !== undefined && hosts.has(new URL(origin).host.toLowerCase());
    } catch {
      sameOrigin = false;
    }
    if (!sameOrigin) return rejectUpgrade(socket, 403, 'cross-origin tail refused');
    tails.upgrade(req, socket, head, url).catch((err) => {
      const status = err instanceof HttpError ? err.status : err instanceof QueryError ? 400 : 500;
      if (status === 500) log(`dashboard: tail: ${(err as Error)?.stack ?? String(err)}`);
      rejectUpgrade(socket, status, status === 500 ? 'internal server error' : (err as Error).message);
    });
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 3000);
  hosts = allowedHosts(host, port);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  const runFile = join(opts.paths.run, DASHBOARD_RUN_FILE);
  try {
    writeFileSync(runFile, `${JSON.stringify({ pid: process.pid, url })}\n`, { mode: 0o600 });
  } catch (err) {
    log(`dashboard: cannot write ${DASHBOARD_RUN_FILE}: ${(err as Error).message}`);
  }

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url,
    close() {
      closing ??= (async () => {
        rmSync(runFile, { force: true });
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await tails.close();
        server.closeIdleConnections();
        const cut = setTimeout(() => server.closeAllConnections(), 2000);
        await stopped;
        clearTimeout(cut);
      })();
      return closing;
    },
  };
}

/**
 * The dashboard next to the collector, on its store. Like the API, never fatal: a taken port or a bad address
 * is logged with what to change, and the collector runs on.
 */
export async function serveDashboard(
  store: Store,
  config: Config,
  paths: DataPaths,
  log: (m: string) => void,
): Promise<DashboardServer | undefined> {
  if (!config.dashboard.enabled) return undefined;
  try {
    const dash = await startDashboardServer({
      store,
      engine: new QueryEngine(store),
      paths,
      host: config.dashboard.host,
      port: config.dashboard.port,
      pricing: new Pricing(config.pricing),
      analyticsThreshold: config.analytics.threshold,
      ...(config.dashboard.token ? { token: config.dashboard.token } : {}),
      log,
    });
    log(`dashboard on ${dash.url}`);
    return dash;
  } catch (err) {
    log(
      `dashboard not served: ${(err as Error).message}; change dashboard.port in config.yaml (or set dashboard.enabled: false)`,
    );
    return undefined;
  }
}
