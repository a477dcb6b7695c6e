/**
 * One forwarding sink: a durable cursor over the audit log (the seq of the last entry the remote acknowledged,
 * in `<data dir>/sinks/<name>.cursor`), batches read after it, one request in flight, the cursor advanced only
 * after success. Delivery is at least once: a crash between the remote's acknowledgement and the cursor write
 * resends that batch, which the remote drops as identical (see loki.ts and otlp.ts).
 *
 * Failures:
 *  - network errors, 408, 429 and 5xx: retried with exponential backoff and jitter, capped, for as long as it
 *    takes (the audit log holds everything meanwhile, so hours of downtime lose nothing);
 *  - 400/413/422 (the content): the batch is split in halves and each half sent again, so only the entries the
 *    remote refuses on their own are left; each of those is recorded in `<name>.rejected.jsonl` (seq, event id,
 *    the remote's answer) and skipped. Nothing blocks forever and nothing disappears without a record: the
 *    events stay in the audit log and can be sent again by setting the cursor back;
 *  - other 4xx (401, 403, 404...): a configuration problem that every batch would hit: the sink waits at the
 *    longest backoff, keeps the data and shows `blocked` with the remote's answer in status.
 */
import { appendFile, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEntry } from '../audit/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { AuditTail } from './audit-tail.ts';
import type { SinkConfig } from './config.ts';
import { displayUrl, type EncodedRequest, type SendOutcome, send } from './http.ts';
import { encodeLokiRequest } from './loki.ts';
import { encodeOtlpRequest, otlpRejected } from './otlp.ts';

/** What a sink reads: the audit dir and the current head (an AuditLog is one). */
export interface AuditSource {
  readonly dir: string;
  readonly head: { seq: number };
}

export type SinkState = 'idle' | 'waiting' | 'sending' | 'retrying' | 'blocked' | 'stopped';

export interface SinkStatus {
  name: string;
  type: SinkConfig['type'];
  url: string;
  state: SinkState;
  /** seq of the last entry the remote acknowledged (or skipped by routing, or recorded as rejected). */
  cursor: number;
  head: number;
  lagEntries: number;
  /** Age of the oldest entry not yet acknowledged, 0 when caught up. */
  lagSeconds: number;
  /** Since start: events delivered, events not routed to this sink, events refused and recorded. */
  sent: number;
  skipped: number;
  rejected: number;
  /** Failed attempts in a row (0 after a success). */
  failures: number;
  lastSuccessAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  rejectedFile: string;
}

export interface SinkOptions {
  /** Where cursor and rejected files live. */
  dir: string;
  source: () => AuditSource;
  /** Which events this sink gets (routing). */
  accepts: (event: TelemetryEvent) => boolean;
  log: (msg: string) => void;
  /** For tests: the random source of the backoff jitter. */
  random?: () => number;
}

class Stopped extends Error {}

function delay(ms: number, wake: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (wake.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      wake.removeEventListener('abort', done);
      resolve();
    }
    wake.addEventListener('abort', done, { once: true });
  });
}

/** Reads a cursor file; a missing file means nothing was sent yet. */
export async function readCursor(file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const seq = (JSON.parse(text) as { seq?: unknown }).seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new Error(`${file}: bad cursor`);
  return seq;
}

/** write tmp + fsync + rename: a crash leaves the old cursor or the new one, never a torn file. */
export async function writeCursor(file: string, seq: number): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ seq, at: new Date().toISOString() })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export class Sink {
  readonly cursorFile: string;
  readonly rejectedFile: string;
  private cursor = 0;
  private tail: AuditTail | null = null;
  private state: SinkState = 'idle';
  private counts = { sent: 0, skipped: 0, rejected: 0, failures: 0 };
  private lastSuccessAt?: string;
  private lastError?: string;
  private lastErrorAt?: string;
  /** ms time of the oldest entry not yet acknowledged, or of noticing new entries before reading them. */
  private oldestPendingMs: number | null = null;
  private wake = new AbortController();
  /** Aborted at the stop deadline: cancels the request in flight. */
  private readonly abort = new AbortController();
  /** Aborted when stop() is called: ends a retry wait at once (a down remote will not take the flush). */
  private readonly stopRequested = new AbortController();
  private stopDeadline = Number.POSITIVE_INFINITY;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private readonly random: () => number;

  constructor(
    readonly config: SinkConfig,
    private readonly opts: SinkOptions,
  ) {
    this.cursorFile = join(opts.dir, `${config.name}.cursor`);
    this.rejectedFile = join(opts.dir, `${config.name}.rejected.jsonl`);
    this.random = opts.random ?? Math.random;
  }

  async start(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    this.cursor = await readCursor(this.cursorFile);
    this.loop = this.run().catch((err: unknown) => {
      this.opts.log(`sink ${this.config.name} stopped on an error: ${(err as Error).stack ?? err}`);
      this.state = 'stopped';
    });
  }

  /** New entries were appended: look now instead of at the next poll. */
  notify(): void {
    this.wake.abort();
  }

  /** Sends what it can until `deadlineMs` from now, then aborts the request in flight and ends. */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopDeadline = Date.now() + deadlineMs;
      const timer = setTimeout(() => this.abort.abort(), deadlineMs);
      this.stopRequested.abort();
      this.notify();
      await this.loop;
      clearTimeout(timer);
    }
    await this.loop;
    this.state = 'stopped';
  }

  status(): SinkStatus {
    const head = this.source().head.seq;
    const lag = Math.max(0, head - this.cursor);
    const status: SinkStatus = {
      name: this.config.name,
      type: this.config.type,
      url: displayUrl(this.config.url),
      state: this.state,
      cursor: this.cursor,
      head,
      lagEntries: lag,
      lagSeconds:
        lag > 0 && this.oldestPendingMs !== null
          ? Math.max(0, (Date.now() - this.oldestPendingMs) / 1000)
          : 0,
      ...this.counts,
      rejectedFile: this.rejectedFile,
    };
    if (this.lastSuccessAt) status.lastSuccessAt = this.lastSuccessAt;
    if (this.lastError) status.lastError = this.lastError;
    if (this.lastErrorAt) status.lastErrorAt = this.lastErrorAt;
    return status;
  }

  private source(): AuditSource {
    return this.opts.source();
  }

  private pollMs(): number {
    return Math.min(this.config.batchWaitMs, 500);
  }

  private async sleep(ms: number): Promise<void> {
    if (this.stopping) throw new Stopped();
    await delay(ms, this.wake.signal);
    if (this.wake.signal.aborted) this.wake = new AbortController();
  }

  private async run(): Promise<void> {
    try {
      while (true) {
        const head = this.source().head.seq;
        if (head <= this.cursor) {
          this.oldestPendingMs = null;
          this.state = 'idle';
          await this.sleep(this.pollMs());
          continue;
        }
        this.oldestPendingMs ??= Date.now();
        // Time-based batching: a partial batch waits up to batch_wait_ms for more (not when stopping).
        const waited = Date.now() - this.oldestPendingMs;
        if (
          !this.stopping &&
          head - this.cursor < this.config.batchSize &&
          waited < this.config.batchWaitMs
        ) {
          this.state = 'waiting';
          await this.sleep(this.config.batchWaitMs - waited);
          continue;
        }
        const entries = await this.read();
        if (entries === null) continue;
        try {
          await this.deliverBatch(entries);
        } catch (err) {
          if (err instanceof Stopped) throw err;
          // Delivered but the cursor could not be saved (disk full?): resend later; the remote drops duplicates.
          this.tail = null;
          this.failed(`after sending: ${(err as Error).message}`, 'blocked');
          await this.sleep(this.config.maxBackoffMs);
        }
        if (this.stopping && Date.now() >= this.stopDeadline) break;
      }
    } catch (err) {
      if (!(err instanceof Stopped) && !this.abort.signal.aborted) throw err;
    }
  }

  /** The next batch after the cursor, or null after a read problem (reported, then retried). */
  private async read(): Promise<AuditEntry[] | null> {
    try {
      if (!this.tail || this.tail.next !== this.cursor + 1) {
        this.tail = new AuditTail(this.source().dir, this.cursor + 1);
      }
      const entries = await this.tail.read(this.config.batchSize);
      if (entries.length === 0) {
        // The head moved but the lines are not readable yet: look again shortly.
        await this.sleep(this.pollMs());
        return null;
      }
      const firstMs = Date.parse(entries[0]!.ts);
      if (Number.isFinite(firstMs)) this.oldestPendingMs = firstMs;
      return entries;
    } catch (err) {
      if (err instanceof Stopped) throw err;
      this.tail = null;
      this.failed(`reading the audit log: ${(err as Error).message}`, 'blocked');
      await this.sleep(this.config.maxBackoffMs);
      return null;
    }
  }

  /** Sends the routed part of `entries`, splitting around refused entries, and moves the cursor past all. */
  private async deliverBatch(entries: AuditEntry[]): Promise<void> {
    const routed = entries.filter((e) => this.opts.accepts(e.event));
    this.counts.skipped += entries.length - routed.length;
    const queue: AuditEntry[][] = routed.length > 0 ? [routed] : [];
    while (queue.length > 0) {
      const part = queue.shift()!;
      const outcome = await this.deliver(part);
      if (outcome.kind === 'ok') {
        this.counts.sent += part.length;
        this.noteAccepted(outcome, part.length);
      } else if (part.length === 1) {
        await this.recordRejected(part[0]!, outcome.error);
      } else {
        const half = Math.ceil(part.length / 2);
        queue.unshift(part.slice(0, half), part.slice(half));
        continue;
      }
      await this.advance(part[part.length - 1]!.seq);
    }
    await this.advance(entries[entries.length - 1]!.seq);
    this.state = 'idle';
  }

  private async advance(seq: number): Promise<void> {
    if (seq <= this.cursor) return;
    await writeCursor(this.cursorFile, seq);
    this.cursor = seq;
  }

  /** Sends until delivered or refused for its content; throws Stopped when the sink is stopping. */
  private async deliver(part: AuditEntry[]): Promise<Extract<SendOutcome, { kind: 'ok' | 'content' }>> {
    const request = this.encode(part);
    for (let attempt = 0; ; attempt++) {
      if (this.stopping && Date.now() >= this.stopDeadline) throw new Stopped();
      this.state = attempt === 0 ? 'sending' : this.state;
      let outcome: SendOutcome;
      try {
        outcome = await send(request, this.config.timeoutMs, this.abort.signal);
      } catch {
        throw new Stopped();
      }
      if (outcome.kind === 'ok' || outcome.kind === 'content') return outcome;
      this.failed(outcome.error, outcome.kind === 'config' ? 'blocked' : 'retrying');
      if (this.stopping) throw new Stopped();
      const wait =
        outcome.kind === 'config' ? this.config.maxBackoffMs : this.backoff(attempt, outcome.retryAfterMs);
      await delay(wait, this.stopRequested.signal);
      if (this.stopping) throw new Stopped();
    }
  }

  private encode(part: AuditEntry[]): EncodedRequest {
    return this.config.type === 'loki'
      ? encodeLokiRequest(this.config, part)
      : encodeOtlpRequest(this.config, part);
  }

  /** Exponential, capped, with "equal jitter": half fixed, half random, so retries of many sinks spread out. */
  private backoff(attempt: number, retryAfterMs?: number): number {
    const { minBackoffMs, maxBackoffMs } = this.config;
    const exp = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(attempt, 30));
    const jittered = exp / 2 + (exp / 2) * this.random();
    return Math.min(maxBackoffMs, Math.max(jittered, retryAfterMs ?? 0));
  }

  private noteAccepted(outcome: Extract<SendOutcome, { kind: 'ok' }>, count: number): void {
    this.counts.failures = 0;
    this.lastSuccessAt = new Date().toISOString();
    if (this.config.type === 'otlp') {
      const partial = otlpRejected(outcome.body, outcome.contentType);
      if (partial) {
        this.failed(
          `receiver accepted the batch of ${count} but dropped ${partial.rejected}: ${partial.message}`,
        );
      }
    }
  }

  private failed(error: string, state?: SinkState): void {
    this.counts.failures++;
    this.lastError = error;
    this.lastErrorAt = new Date().toISOString();
    if (state) this.state = state;
    if (this.counts.failures === 1 || this.counts.failures % 20 === 0) {
      this.opts.log(`sink ${this.config.name}: ${error} (${this.counts.failures} failures in a row)`);
    }
  }

  private async recordRejected(entry: AuditEntry, error: string): Promise<void> {
    const line = { seq: entry.seq, id: entry.event.id, at: new Date().toISOString(), error };
    await appendFile(this.rejectedFile, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    this.counts.rejected++;
    this.lastError = `entry seq ${entry.seq} refused, recorded in ${this.config.name}.rejected.jsonl: ${error}`;
    this.lastErrorAt = line.at;
    this.opts.log(`sink ${this.config.name}: ${this.lastError}`);
  }
}
