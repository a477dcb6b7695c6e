/**
 * OTLP/HTTP receiver for Claude Code's own telemetry, on the API server: `POST /v1/logs` and
 * `POST /v1/metrics`, `application/x-protobuf` or `application/json`, gzip or deflate bodies, the size limit of
 * the other routes. What it keeps is in src/usage/otel.ts (api_request events, cost and token metrics).
 *
 * Answers as OTLP/HTTP says: 200 with an Export*ServiceResponse in the request's encoding (partial_success
 * when entries were refused), 400 for a body that is not a request, 413 above the limit, 415 for another
 * media type, 503 when the store is busy (the exporter retries). Errors carry a google.rpc.Status body.
 * Only loopback peers are served, and never a browser (a request with an Origin header is refused), so a web
 * page cannot write cost figures into the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import protobuf from 'protobufjs';
import {
  apiRequestsOf,
  decodeOtlp,
  encodeOtlpResponse,
  type OtelSink,
  type OtlpEncoding,
  OtlpFormatError,
  type OtlpSignal,
  usageMetricsOf,
} from '../usage/otel.ts';
import { mediaType, type RouteContext, type Router, readBody } from './http.ts';
import { HttpError } from './http-errors.ts';

export const OTLP_LOGS_ROUTE = '/v1/logs';
export const OTLP_METRICS_ROUTE = '/v1/metrics';

const StatusType = protobuf
  .parse('syntax = "proto3"; package rpc; message Status { int32 code = 1; string message = 2; }')
  .root.lookupType('rpc.Status');

/** google.rpc.Code for an HTTP status. */
const RPC_CODE: Record<number, number> = { 400: 3, 403: 7, 413: 8, 415: 3, 503: 14 };

const ENCODINGS: Record<string, OtlpEncoding> = {
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
  'application/json': 'json',
};

const CONTENT_TYPE: Record<OtlpEncoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** What the receiver has taken in since it started (for tests and the log). */
export interface OtlpCounters {
  requests: number;
  apiRequests: number;
  metricPoints: number;
  rejected: number;
}

function isLoopbackPeer(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? '';
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

function send(res: ServerResponse, status: number, encoding: OtlpEncoding, body: Buffer): void {
  res.writeHead(status, { 'Content-Type': CONTENT_TYPE[encoding], 'Content-Length': body.length });
  res.end(body);
}

function sendStatus(res: ServerResponse, err: HttpError, encoding: OtlpEncoding): void {
  const status = { code: RPC_CODE[err.status] ?? 2, message: err.message };
  const body =
    encoding === 'json'
      ? Buffer.from(JSON.stringify(status))
      : Buffer.from(StatusType.encode(StatusType.fromObject(status)).finish());
  res.writeHead(err.status, {
    ...err.headers,
    'Content-Type': CONTENT_TYPE[encoding],
    'Content-Length': body.length,
  });
  res.end(body);
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

function handler(signal: OtlpSignal, sink: OtelSink, maxBodyBytes: number, counters: OtlpCounters) {
  return async ({ req, res }: RouteContext): Promise<void> => {
    const encoding = ENCODINGS[mediaType(req)];
    try {
      if (!isLoopbackPeer(req)) throw new HttpError(403, 'OTLP is received from this machine only');
      if (req.headers.origin !== undefined) throw new HttpError(403, 'OTLP is not received from browsers');
      if (encoding === undefined)
        throw new HttpError(415, 'send OTLP as application/x-protobuf or application/json');
      const body = await readBody(req, maxBodyBytes);
      const decoded = decodeOtlp(signal, encoding, body);
      counters.requests++;
      let rejected: number;
      let reason: string;
      try {
        if (signal === 'logs') {
          const m = apiRequestsOf(decoded);
          sink.recordOtelRequests(m.rows);
          counters.apiRequests += m.rows.length;
          ({ rejected, reason } = m);
        } else {
          const m = usageMetricsOf(decoded);
          sink.recordOtelMetrics(m.rows);
          counters.metricPoints += m.rows.length;
          ({ rejected, reason } = m);
        }
      } catch (err) {
        if (isBusy(err)) throw new HttpError(503, 'store busy, retry', { 'Retry-After': '1' });
        throw err;
      }
      counters.rejected += rejected;
      send(res, 200, encoding, encodeOtlpResponse(signal, encoding, rejected, reason));
    } catch (err) {
      if (!(err instanceof HttpError) && !(err instanceof OtlpFormatError)) throw err;
      req.resume();
      const e = err instanceof HttpError ? err : new HttpError(400, err.message);
      sendStatus(res, e, encoding ?? 'json');
    }
  };
}

/** Adds POST /v1/logs and /v1/metrics to `router`; returns the receiver's counters. */
export function registerOtlpRoutes(router: Router, sink: OtelSink, maxBodyBytes: number): OtlpCounters {
  const counters: OtlpCounters = { requests: 0, apiRequests: 0, metricPoints: 0, rejected: 0 };
  router
    .on('POST', OTLP_LOGS_ROUTE, handler('logs', sink, maxBodyBytes, counters))
    .on('POST', OTLP_METRICS_ROUTE, handler('metrics', sink, maxBodyBytes, counters));
  return counters;
}
