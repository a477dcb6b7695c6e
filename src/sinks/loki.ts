/**
 * Loki push requests from audit entries: bounded labels form the stream, the rest is structured metadata,
 * the line is the event's canonical JSON. Redelivery after a lost acknowledgement is harmless: the same entry
 * always maps to the same stream, timestamp and line, and Loki drops an entry identical to one it already has
 * (our own push endpoint drops it by event id).
 */
import { gzipSync } from 'node:zlib';
import type { AuditEntry } from '../audit/index.ts';
import type { SinkConfig } from './config.ts';
import { eventLine, eventTimeNs, streamLabels, structuredMetadata } from './event-labels.ts';
import { authHeaders, type EncodedRequest, endpoint, USER_AGENT } from './http.ts';
import { encodeSnappyPush, formatLabels, toJsonPush, type WireStream } from './loki-wire.ts';

export const LOKI_PUSH_PATH = '/loki/api/v1/push';

/** Streams in order of first appearance; entries of a stream sorted by time (stable for equal times). */
export function toLokiStreams(entries: readonly AuditEntry[]): WireStream[] {
  const byLabels = new Map<string, WireStream>();
  for (const entry of entries) {
    const labels = streamLabels(entry.event);
    const key = formatLabels(labels);
    let stream = byLabels.get(key);
    if (!stream) {
      stream = { labels, entries: [] };
      byLabels.set(key, stream);
    }
    stream.entries.push({
      timestampNs: eventTimeNs(entry.event),
      line: eventLine(entry),
      structuredMetadata: structuredMetadata(entry.event),
    });
  }
  const streams = [...byLabels.values()];
  for (const s of streams)
    s.entries.sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0));
  return streams;
}

export function encodeLokiRequest(sink: SinkConfig, entries: readonly AuditEntry[]): EncodedRequest {
  const streams = toLokiStreams(entries);
  const headers: Record<string, string> = {
    ...sink.headers,
    'user-agent': USER_AGENT,
    ...authHeaders(sink.auth),
  };
  if (sink.tenant) headers['x-scope-orgid'] = sink.tenant;
  let body: Buffer;
  if (sink.encoding === 'json') {
    body = gzipSync(JSON.stringify(toJsonPush(streams)));
    headers['content-type'] = 'application/json';
    headers['content-encoding'] = 'gzip';
  } else {
    // Loki's default wire format: snappy block compression is implied by the content type (no Content-Encoding).
    body = encodeSnappyPush(streams);
    headers['content-type'] = 'application/x-protobuf';
  }
  return { url: endpoint(sink.url, LOKI_PUSH_PATH), body, headers };
}
