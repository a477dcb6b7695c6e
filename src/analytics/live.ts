/**
 * Scoring as sessions progress. The scorer follows the store by its sequence numbers (only committed
 * batches are visible to it) and feeds each new event into the feature state of its session, kept in memory
 * (a session seen for the first time, or again after a quiet hour, is read from the store once). Each session
 * that received events is scored again at most once per `rescoreMs`: the first events of a session are
 * scored on the next step, a busy session every `rescoreMs`, and a score costs the same whatever the length
 * of the session. Events are taken in store order, which is their time order within a session as the hook
 * delivers them. In a burst (more than BURST_EVENTS new events at one step: an import, a backlog after
 * downtime) the scorer only notes the sessions, and reads and scores them once the burst is over. Scores go to the scores file, a session whose anomaly risk crosses the threshold alerts once,
 * and the model is retrained when it is missing, older than `retrainHours` or when the stored sessions grew
 * by `retrainGrowth` since it was trained.
 *
 * Nothing here touches ingestion: the collector runs it on a worker thread (worker.ts) over a read-only
 * connection to the store, so a step that reads or retrains for seconds only delays the next step.
 */
import type { AlertChannels, AlertConfig } from '../detect/alerts.ts';
import type { Store } from '../store/index.ts';
import {
  AnomalyAlerter,
  reportOf,
  retrainCached,
  SavedModel,
  type SessionReport,
  storedScoreOf,
} from './analyze.ts';
import { SessionAccumulator } from './features.ts';
import { eventOfLine } from './history.ts';
import { type AnalyticsModel, MIN_HISTORY } from './model.ts';
import type { ScoreDb, StoredScore } from './scores.ts';

export interface LiveOptions {
  /** Anomaly risk (0-100) from which a session alerts. */
  threshold: number;
  /** A session is scored again at most this often (ms). */
  rescoreMs: number;
  retrainHours: number;
  retrainGrowth: number;
  alertConfig: AlertConfig;
  channels?: AlertChannels;
  log?: (msg: string) => void;
  /** Work per step before the rest waits for the next step (ms). */
  budgetMs?: number;
  /** Sessions needed before the model calls anything unusual (tests lower it). */
  minHistory?: number;
  now?: () => number;
}

export interface StepResult {
  /** Sessions that received events since the last step. */
  noticed: number;
  scored: number;
  /** Time to score each session (store read included), ms. */
  scoreMs: number[];
  alerts: number;
  /** Retraining time (ms) when the step retrained. */
  retrainMs?: number;
}

/** Meta keys in the scores file. */
const SEQ_KEY = 'store_seq';
const TRAINED_SESSIONS_KEY = 'trained_store_sessions';
/** On a fresh start and after a retrain, sessions active this recently are scored (again). */
const RECENT_MS = 24 * 3_600_000;
const RECENT_LIMIT = 500;
/** Store rows read per query while following the store. */
const FOLLOW_PAGE = 5_000;
/**
 * More new events than this at one step is a burst: scoring waits for it to end (see notice()). Steps come
 * about a second apart, and a busy Claude Code session with subagents sends tens of hook events a second, so
 * this is far above live use; a lower bar keeps the per-event path (a JSON parse per stored event, and the
 * whole history of each newly seen session) from competing with ingestion for most of a burst's first second.
 */
const BURST_EVENTS = 1_000;
/** A burst is over when a step finds no more than BURST_EVENTS new events, this long after the last one. */
const BURST_QUIET_MS = 2_000;
/** Sessions whose feature state is kept in memory; the least recently active beyond it are let go. */
const MAX_LIVE = 2_000;
/** A session quiet for this long is let go (its state is read from the store again if it resumes). */
const IDLE_MS = 3_600_000;

/** A session followed by the scorer: its feature state, complete up to store seq `seq`. */
interface LiveSession {
  acc: SessionAccumulator;
  seq: number;
  /** When it last received events, and when it was last scored (now() ms). */
  touched: number;
  scored?: number;
}
/** A cold-start model is retrained once this many more sessions are stored. */
const COLD_STEP = 5;

export class LiveScorer {
  private readonly saved: SavedModel;
  private cursor: number | undefined;
  /** The cursor as last written to the scores file (written only when it moves). */
  private savedCursor = -1;
  /** Sessions with events not yet scored. */
  private readonly dirty = new Set<string>();
  private readonly live = new Map<string, LiveSession>();
  private readonly alerter: AnomalyAlerter;
  private readonly now: () => number;
  private readonly follow;
  private readonly followIds;
  /** Scoring waits until then (now() ms): a burst of events is being ingested. */
  private burstUntil = 0;
  private readonly sessionRows;

  constructor(
    private readonly store: Store,
    private readonly home: string,
    private readonly db: ScoreDb,
    private readonly opts: LiveOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.saved = new SavedModel(home);
    this.alerter = new AnomalyAlerter(home, db, opts.alertConfig, opts.channels, opts.log);
    this.follow = store.select(
      'SELECT seq, session_id, line FROM events WHERE seq > ? AND session_id IS NOT NULL ORDER BY seq LIMIT ?',
    );
    this.followIds = store.select(
      'SELECT seq, session_id FROM events WHERE seq > ? AND session_id IS NOT NULL ORDER BY seq LIMIT ?',
    );
    this.sessionRows = store.select(
      'SELECT line FROM events WHERE session_id = ? AND seq <= ? ORDER BY ts, seq',
    );
  }

  /** Sessions waiting to be scored. */
  get pending(): number {
    return this.dirty.size;
  }

  get currentModel(): AnalyticsModel | undefined {
    return this.saved.get();
  }

  /** One round: follow the store, retrain if due, score the sessions that are due, alert. */
  async step(): Promise<StepResult> {
    const noticed = this.notice();
    const retrainMs = this.retrainIfDue();
    const { scored, times } = this.scoreDue();
    const alerts = scored.length > 0 ? await this.alerter.raise(scored, this.opts.threshold) : [];
    return {
      noticed,
      scored: scored.length,
      scoreMs: times,
      alerts: alerts.length,
      ...(retrainMs !== undefined ? { retrainMs } : {}),
    };
  }

  /** Marks the sessions that received events since the last step; returns how many. */
  private notice(): number {
    const max = this.store.maxSeq();
    if (this.cursor === undefined) {
      const saved = Number(this.db.getMeta(SEQ_KEY));
      if (Number.isFinite(saved) && saved > 0 && saved <= max) this.cursor = saved;
      else {
        // First start (or a store rebuilt since): the recent sessions, not the whole history.
        this.cursor = max;
        this.markRecent();
      }
    }
    if (max < this.cursor) {
      // The store was rebuilt (its seqs start again): what is kept in memory may not match it any more.
      this.cursor = max;
      this.live.clear();
    }
    const before = this.dirty.size;
    const now = this.now();
    if (max - this.cursor > BURST_EVENTS) {
      // A burst (an import, a backlog after downtime): only note the sessions now; their state is read from
      // the store once, when the burst is over, instead of event by event while ingestion is busy.
      this.burstUntil = now + BURST_QUIET_MS;
      while (this.cursor < max) {
        const rows = this.followIds.all(this.cursor, FOLLOW_PAGE) as { seq: number; session_id: string }[];
        if (rows.length === 0) break;
        for (const r of rows) {
          if (r.session_id === '') continue;
          this.live.delete(r.session_id);
          this.dirty.add(r.session_id);
        }
        this.cursor = (rows[rows.length - 1] as { seq: number }).seq;
      }
    }
    while (this.cursor < max) {
      const rows = this.follow.all(this.cursor, FOLLOW_PAGE) as {
        seq: number;
        session_id: string;
        line: string;
      }[];
      if (rows.length === 0) break;
      const upTo = (rows[rows.length - 1] as { seq: number }).seq;
      for (const r of rows) {
        if (r.session_id === '') continue;
        const known = this.live.get(r.session_id);
        // A session seen for the first time (or again after being let go) is read from the store up to this
        // page, this row included; a followed one takes the new event.
        const st = known ?? this.load(r.session_id, upTo);
        if (known && r.seq > st.seq) {
          const e = eventOfLine(r.line);
          if (e) st.acc.add(e);
          st.seq = r.seq;
        }
        st.touched = now;
        this.dirty.add(r.session_id);
      }
      this.cursor = upTo;
    }
    const moved = this.cursor < max || this.savedCursor !== max;
    this.cursor = Math.max(this.cursor, max);
    if (moved) {
      this.db.setMeta(SEQ_KEY, this.cursor);
      this.savedCursor = this.cursor;
    }
    return this.dirty.size - before;
  }

  /** A session's feature state from its stored events up to store seq `upTo`, kept for what follows. */
  private load(session: string, upTo: number): LiveSession {
    const acc = new SessionAccumulator();
    for (const r of this.sessionRows.iterate(session, upTo) as IterableIterator<{ line: string }>) {
      const e = eventOfLine(r.line);
      if (e) acc.add(e);
    }
    const st: LiveSession = { acc, seq: upTo, touched: this.now() };
    this.live.set(session, st);
    return st;
  }

  private markRecent(): void {
    for (const s of this.store.sessions({ since: this.now() - RECENT_MS, limit: RECENT_LIMIT })) {
      this.dirty.add(s.session_id);
      const st = this.live.get(s.session_id);
      if (st) st.scored = undefined;
    }
  }

  /** Why the model should be trained again now, or undefined. */
  retrainReason(): string | undefined {
    const model = this.saved.get();
    if (!model) return 'no model yet';
    const stored = this.store.stats().sessions;
    const at = Number(this.db.getMeta(TRAINED_SESSIONS_KEY) ?? Number.NaN);
    const ageH = (this.now() - Date.parse(model.trainedAt)) / 3_600_000;
    if (ageH >= this.opts.retrainHours) return `model ${Math.floor(ageH)} h old`;
    if (!Number.isFinite(at)) {
      // Trained elsewhere (the `analytics` command): growth counts from the larger of its history and now.
      this.db.setMeta(TRAINED_SESSIONS_KEY, Math.max(stored, model.session.n));
      return undefined;
    }
    if (model.session.coldStart && stored >= at + COLD_STEP) return `${stored - at} new sessions`;
    if (stored >= at * (1 + this.opts.retrainGrowth) && stored - at >= COLD_STEP)
      return `sessions grew from ${at} to ${stored}`;
    return undefined;
  }

  /** Retrains when due (see retrainReason) and no burst is going on; returns the time it took. */
  private retrainIfDue(): number | undefined {
    // Not while a burst goes on: its sessions are still growing (each step would find the model due again and
    // read them all), and scoring waits for the burst's end anyway.
    if (this.now() < this.burstUntil) return undefined;
    const why = this.retrainReason();
    if (why === undefined) return undefined;
    return this.retrainNow(why);
  }

  retrainNow(why: string): number {
    const t = performance.now();
    const stored = this.store.stats().sessions;
    const minHistory = this.opts.minHistory ?? MIN_HISTORY;
    const { model, read } = retrainCached(this.store, this.home, this.db, { minHistory });
    this.saved.set(model);
    this.db.setMeta(TRAINED_SESSIONS_KEY, stored);
    const ms = performance.now() - t;
    const m = model.session;
    this.opts.log?.(
      `model retrained (${why}) on ${m.n} sessions (${read} read from the store) in ${Math.round(ms)} ms` +
        (m.coldStart ? `; cold start: ${minHistory} sessions needed before anything is called unusual` : ''),
    );
    // Recent sessions are scored again against the new model.
    this.markRecent();
    return ms;
  }

  /** Scores the dirty sessions whose last score is at least rescoreMs old, within the step's budget. */
  private scoreDue(): { scored: SessionReport[]; times: number[] } {
    const model = this.saved.get();
    const scored: SessionReport[] = [];
    const times: number[] = [];
    const now = this.now();
    if (!model || now < this.burstUntil) return { scored, times };
    const budget = this.opts.budgetMs ?? 250;
    const start = performance.now();
    const rows: StoredScore[] = [];
    for (const session of this.dirty) {
      if (performance.now() - start > budget) break;
      const known = this.live.get(session);
      if (known?.scored !== undefined && now - known.scored < this.opts.rescoreMs) continue;
      const t = performance.now();
      const st = known ?? this.load(session, this.cursor ?? 0);
      this.dirty.delete(session);
      st.scored = now;
      const report = reportOf(model, session, st.acc);
      times.push(performance.now() - t);
      // A session without a tool call has nothing to say yet.
      if ((report.features.tool_calls ?? 0) === 0) continue;
      scored.push(report);
      rows.push(storedScoreOf(report, model, now));
    }
    this.db.put(rows);
    this.letGo(now);
    return { scored, times };
  }

  /** Lets go of sessions quiet for an hour, and of the least recently active beyond MAX_LIVE. */
  private letGo(now: number): void {
    for (const [s, st] of this.live)
      if (now - st.touched > IDLE_MS && !this.dirty.has(s)) this.live.delete(s);
    if (this.live.size <= MAX_LIVE) return;
    const quiet = [...this.live]
      .filter(([s]) => !this.dirty.has(s))
      .sort((a, b) => a[1].touched - b[1].touched);
    for (const [s] of quiet.slice(0, this.live.size - Math.floor(MAX_LIVE * 0.8))) this.live.delete(s);
  }
}
