/**
 * `GET /loki/api/v1/tail` as a WebSocket, as Loki serves it: `query`, `limit`, `start`, `delay_for` (<= 5 s);
 * frames `{"streams":[...],"dropped_entries":[...]}`.
 *
 * On connect the client gets the last `limit` lines since `start`, oldest first; after that one shared timer
 * polls the store: `store.maxSeq()` first (one indexed lookup), and only when it moved does each client ask
 * the engine for its matches after the last seq it was sent. Nothing here waits on a client: a client that
 * does not read (its socket buffer above a bound) loses frames, which are reported as dropped entries.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Labels, StreamResult } from '../query/api.ts';
import type { ApiEngine } from './engine.ts';
import { HttpError } from './http-errors.ts';
import { bounds, delayForParam, limitParam, nowNs, Params } from './params.ts';

export interface TailOptions {
  /** How often the store is polled for new events, ms. */
  pollMs?: number;
  /** Frames are dropped while a client's socket buffer holds more than this many bytes. */
  maxBufferedBytes?: number;
  log?: (msg: string) => void;
}

interface DroppedEntry {
  labels: Labels;
  timestamp: string;
}

interface TailClient {
  ws: WebSocket;
  query: string;
  limit: number;
  delayMs: number;
  afterSeq: number;
  dropped: DroppedEntry[];
  timers: Set<NodeJS.Timeout>;
  busy: boolean;
}

/** Batches asked of the engine per client per poll, so one busy tail cannot hold the event loop. */
const MAX_BATCHES_PER_POLL = 10;
/** Dropped entries reported per frame (Loki reports a sample too, not every line). */
const MAX_DROPPED_REPORTED = 100;

export class TailHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<TailClient>();
  private readonly pollMs: number;
  private readonly maxBuffered: number;
  private readonly log: (msg: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private seenMaxSeq = 0;
  private closed = false;

  constructor(
    private readonly store: { maxSeq(): number },
    private readonly engine: Pick<ApiEngine, 'tail' | 'rangeQuery'>,
    opts: TailOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 250;
    this.maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.log = opts.log ?? (() => {});
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Handles an upgrade request for the tail path. Bad parameters or query are answered with a plain HTTP 400
   * before upgrading, as Loki does.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    if (this.closed) throw new HttpError(503, 'server is stopping');
    const params = new Params([url.searchParams]);
    const query = params.get('query');
    const limit = limitParam(params);
    const delayMs = delayForParam(params) * 1000;
    const { start } = bounds(params);
    // Read the seq before the history query, in the same tick: the first poll starts right after it.
    const afterSeq = this.store.maxSeq();
    const end = nowNs();
    const history = await this.engine.rangeQuery({
      query,
      start: start < end ? start : end - 1n,
      end,
      limit,
      direction: 'backward',
      stepMs: 1000,
      categorizeLabels: false,
    });
    if (history.data.resultType !== 'streams') {
      throw new HttpError(400, 'tail needs a log query (a stream selector with an optional pipeline)');
    }
    const initial = oldestFirst(history.data.result);
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const client: TailClient = {
        ws,
        query,
        limit,
        delayMs,
        afterSeq,
        dropped: [],
        timers: new Set(),
        busy: false,
      };
      this.clients.add(client);
      ws.on('close', () => this.remove(client));
      ws.on('error', () => this.remove(client));
      // Tail clients only listen; anything they send is ignored.
      ws.on('message', () => {});
      if (initial.length > 0) this.send(client, initial);
      this.ensureTimer();
    });
  }

  /** Closes every tail (1001 going away) and stops polling. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const closing = [...this.clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          for (const t of c.timers) clearTimeout(t);
          c.timers.clear();
          if (c.ws.readyState === c.ws.CLOSED) return resolve();
          const force = setTimeout(() => c.ws.terminate(), 1000);
          c.ws.once('close', () => {
            clearTimeout(force);
            resolve();
          });
          c.ws.close(1001, 'server stopping');
        }),
    );
    await Promise.all(closing);
    this.clients.clear();
    this.wss.close();
  }

  private ensureTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private remove(client: TailClient): void {
    for (const t of client.timers) clearTimeout(t);
    client.timers.clear();
    this.clients.delete(client);
    if (this.clients.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** One poll: nothing to do unless the store's max seq moved past what a client was sent. */
  private async poll(): Promise<void> {
    let max: number;
    try {
      max = this.store.maxSeq();
    } catch (err) {
      this.log(`tail: reading the store failed: ${(err as Error).message}`);
      return;
    }
    if (max === this.seenMaxSeq && ![...this.clients].some((c) => c.afterSeq < max)) return;
    this.seenMaxSeq = max;
    for (const client of this.clients) {
      if (client.afterSeq >= max || client.busy) continue;
      client.busy = true;
      try {
        await this.catchUp(client, max);
      } catch (err) {
        this.log(`tail: query failed, closing the tail: ${(err as Error).message}`);
        client.ws.close(1011, 'query failed');
        this.remove(client);
      } finally {
        client.busy = false;
      }
    }
  }

  private async catchUp(client: TailClient, max: number): Promise<void> {
    for (let i = 0; i < MAX_BATCHES_PER_POLL && client.afterSeq < max; i++) {
      const r = await this.engine.tail(client.query, client.afterSeq, client.limit);
      if (r.lastSeq <= client.afterSeq) break;
      client.afterSeq = r.lastSeq;
      if (r.streams.length > 0) this.schedule(client, r.streams);
    }
  }

  private schedule(client: TailClient, streams: StreamResult[]): void {
    if (client.delayMs === 0) {
      this.send(client, streams);
      return;
    }
    const t = setTimeout(() => {
      client.timers.delete(t);
      this.send(client, streams);
    }, client.delayMs);
    client.timers.add(t);
  }

  private send(client: TailClient, streams: StreamResult[]): void {
    const ws = client.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.maxBuffered) {
      for (const s of streams) {
        for (const v of s.values) {
          if (client.dropped.length >= MAX_DROPPED_REPORTED) return;
          client.dropped.push({ labels: s.stream, timestamp: v[0] });
        }
      }
      return;
    }
    const frame = { streams, dropped_entries: client.dropped };
    client.dropped = [];
    ws.send(JSON.stringify(frame));
  }
}

/** History comes newest first (the last `limit` lines); a tail shows it oldest first. */
function oldestFirst(streams: StreamResult[]): StreamResult[] {
  return streams.map((s) => ({ stream: s.stream, values: [...s.values].reverse() }));
}
