/**
 * `POST /loki/api/v1/push`: JSON (optionally gzip/deflate), or protobuf + snappy block (Loki's default wire
 * format, also what it assumes without a Content-Type). Entries become events committed through the pipeline
 * (audit append + fsync, then store); the answer is 204 once they are durable.
 */
import type { BatchResult } from '../collector/pipeline.ts';
import { decodeSnappyPush, fromJsonPush, type WireStream } from '../sinks/loki-wire.ts';
import type { TelemetryEvent } from '../types.ts';
import { mediaType, type RouteContext, readBody } from './http.ts';
import { BadRequest } from './http-errors.ts';
import { eventsOfPush } from './push-events.ts';

export interface EventSink {
  ingestEvents(events: readonly TelemetryEvent[]): BatchResult;
}

/** Decodes a push body by its media type into streams (WireFormatError on malformed input). */
export function decodePushBody(type: string, body: Buffer, maxDecodedBytes: number): WireStream[] {
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new BadRequest(`push body is not valid JSON: ${(err as Error).message}`);
    }
    return fromJsonPush(parsed);
  }
  return decodeSnappyPush(body, maxDecodedBytes);
}

/**
 * Media types a browser may send cross-origin without asking first: no push client uses them, so refusing
 * them keeps a web page from pushing into a collector on localhost.
 */
const SIMPLE_FORM_TYPES = new Set(['text/plain', 'multipart/form-data', 'application/x-www-form-urlencoded']);

export function pushHandler(sink: EventSink, maxBodyBytes: number) {
  return async ({ req, res }: RouteContext): Promise<void> => {
    const type = mediaType(req);
    if (SIMPLE_FORM_TYPES.has(type)) {
      req.resume();
      throw new BadRequest(
        `Content-Type ${type} is not a push format: send application/json or application/x-protobuf`,
      );
    }
    const body = await readBody(req, maxBodyBytes);
    const streams = decodePushBody(type, body, maxBodyBytes);
    const events = eventsOfPush(streams);
    if (events.length > 0) sink.ingestEvents(events);
    res.writeHead(204);
    res.end();
  };
}
