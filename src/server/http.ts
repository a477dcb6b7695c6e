/**
 * The HTTP plumbing the API needs and nothing more: bounded body reading with Content-Encoding, form values,
 * JSON and text responses (gzip when the client accepts it), and a small method-aware router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, gzip, inflate, inflateRaw, constants as zc } from 'node:zlib';
import { HttpError } from './http-errors.ts';
import { Params } from './params.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);
const inflateRawAsync = promisify(inflateRaw);

/** Responses smaller than this are sent as is: compressing them costs more than it saves. */
const GZIP_MIN_BYTES = 1024;

function tooLarge(maxBytes: number, what = 'request body'): HttpError {
  return new HttpError(413, `${what} too large: the limit is ${maxBytes} bytes`, { Connection: 'close' });
}

/** Reads the raw body, refusing (413) more than `maxBytes`: early from Content-Length, else while reading. */
export function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/**
 * The body with its Content-Encoding undone (gzip, deflate; `snappy` and none pass through, as in Loki,
 * where the protobuf decoder undoes snappy). The decoded size is bounded by `maxBytes` too.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const raw = await readRawBody(req, maxBytes);
  const enc = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity' || enc === 'snappy') return raw;
  const opts = { maxOutputLength: maxBytes };
  try {
    if (enc === 'gzip' || enc === 'x-gzip') return await gunzipAsync(raw, opts);
    if (enc === 'deflate') {
      // Loki reads raw DEFLATE; HTTP clients usually send the zlib wrapper (first byte 0x78). Take both.
      return raw[0] === 0x78 ? await inflateAsync(raw, opts) : await inflateRawAsync(raw, opts);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooLarge(maxBytes, 'decoded body');
    throw new HttpError(400, `invalid ${enc} body: ${(err as Error).message}`);
  }
  throw new HttpError(400, `Content-Encoding "${enc}" not supported`);
}

/** The media type of a Content-Type header, lowercased, without parameters. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Form values of a request: a urlencoded POST body (which wins, as in Go's r.Form), then the URL query. */
export async function formParams(req: IncomingMessage, url: URL, maxBytes: number): Promise<Params> {
  if (req.method === 'POST' && mediaType(req) === 'application/x-www-form-urlencoded') {
    const body = await readBody(req, maxBytes);
    return new Params([new URLSearchParams(body.toString('utf8')), url.searchParams]);
  }
  return new Params([url.searchParams]);
}

function acceptsGzip(req: IncomingMessage): boolean {
  const ae = req.headers['accept-encoding'];
  if (typeof ae !== 'string') return false;
  return ae.split(',').some((part) => {
    const [coding, ...rest] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = rest.map((r) => r.trim()).find((r) => r.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

export async function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
): Promise<void> {
  let bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers: Record<string, string | number> = { 'Content-Type': contentType, Vary: 'Accept-Encoding' };
  if (bytes.length >= GZIP_MIN_BYTES && acceptsGzip(req)) {
    bytes = await gzipAsync(bytes, { level: zc.Z_BEST_SPEED + 3 });
    headers['Content-Encoding'] = 'gzip';
  }
  headers['Content-Length'] = bytes.length;
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  value: unknown,
  status = 200,
): Promise<void> {
  return sendBody(req, res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** A plain-text answer (errors, /ready); small, so never compressed. */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const bytes = Buffer.from(text.endsWith('\n') ? text : `${text}\n`, 'utf8');
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': bytes.length,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(bytes);
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Path segments captured by the route pattern (`:name`), URL-decoded. */
  path: Record<string, string>;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  segments: string[];
  methods: Map<string, RouteHandler>;
}

export interface RouteMatch {
  handler: RouteHandler;
  path: Record<string, string>;
}

/** Exact paths with `:name` segments; an unknown path is 404, a known path with another method 405. */
export class Router {
  private readonly routes: Route[] = [];

  on(methods: string | string[], pattern: string, handler: RouteHandler): this {
    const segments = pattern.split('/');
    let route = this.routes.find((r) => r.segments.join('/') === segments.join('/'));
    if (!route) {
      route = { segments, methods: new Map() };
      this.routes.push(route);
    }
    for (const m of Array.isArray(methods) ? methods : [methods]) route.methods.set(m, handler);
    return this;
  }

  /** The handler for a request, or an HttpError (404 / 405 with Allow). */
  match(method: string, pathname: string): RouteMatch | HttpError {
    const parts = pathname.split('/');
    for (const route of this.routes) {
      const path = matchSegments(route.segments, parts);
      if (!path) continue;
      const handler = route.methods.get(method) ?? (method === 'HEAD' ? route.methods.get('GET') : undefined);
      if (handler) return { handler, path };
      const allow = [...route.methods.keys()].join(', ');
      return new HttpError(405, `method ${method} not allowed on ${pathname} (allowed: ${allow})`, {
        Allow: allow,
      });
    }
    return new HttpError(404, '404 page not found');
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const path: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const v = parts[i] as string;
    if (p.startsWith(':')) {
      if (v === '') return undefined;
      try {
        path[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return undefined;
      }
    } else if (p !== v) return undefined;
  }
  return path;
}
