/**
 * The fleet across collectors. Each collector answers for its own store on its API (GET /api/fleet/agents and
 * /api/fleet/conflicts, loopback by default like the Loki routes); one with federation instances configured
 * merges its own answer with theirs: `claude-telemetry agents` and `conflicts`, the dashboard's Fleet view,
 * and /federated/api/fleet/... on its API. The peers are the `federation.instances` of config.yaml, asked with
 * their auth, headers and the per-instance time limit, like federated LogQL queries.
 *
 * Every row keeps its `host` and gains `instance`, the collector that answered (LOCAL_INSTANCE for this one).
 * An instance that fails or times out is in `instances` with its reason and makes the answer `partial`: it is
 * never dropped silently. An instance that turns out to hold this very store (a collector that lists itself,
 * as federated LogQL needs it to) is reported with a note and not counted twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { elapsedMs, type Federation, type InstanceReport } from '../query/federation.ts';
import type { Store } from '../store/index.ts';
import { isObject } from '../types.ts';
import { Pricing } from '../usage/pricing.ts';
import { type AgentSummary, type FileConflict, findConflicts, listAgents } from './fleet.ts';

export const FLEET_AGENTS_PATH = '/api/fleet/agents';
export const FLEET_CONFLICTS_PATH = '/api/fleet/conflicts';
/** The name this collector's own rows carry in a merged answer. */
export const LOCAL_INSTANCE = 'local';

/** ms since the epoch, both ends included. */
export interface FleetWindow {
  since?: number;
  until?: number;
}

export interface ConflictQuery extends FleetWindow {
  /** How close two accesses must be (default 60 s). */
  windowMs?: number;
}

/** Where a collector's own answer comes from. */
export interface FleetSource {
  store: Store;
  pricing: Pricing;
}

/** One collector's answer: its rows and which store they come from. */
export interface InstanceRows<T> {
  store_id: string;
  rows: T[];
}

export type FleetAgent = AgentSummary & { instance: string };
export type FleetConflict = FileConflict & { instance: string };

export interface FleetAnswer<T> {
  rows: T[];
  /** One report per instance asked: this collector first, then the peers in configuration order. */
  instances: InstanceReport[];
  /** True when an instance failed: the rows lack its share. */
  partial: boolean;
}

const memoryIds = new WeakMap<Store, string>();

/** Names a store: the same file on the same machine gives the same id in every process. */
export function storeId(store: Store): string {
  if (store.file === ':memory:' || store.file === '') {
    let id = memoryIds.get(store);
    if (id === undefined) {
      id = randomUUID();
      memoryIds.set(store, id);
    }
    return id;
  }
  return createHash('sha256')
    .update(`${hostname()}\0${resolve(store.file)}`)
    .digest('hex')
    .slice(0, 16);
}

/** A collector's store with the prices of the config.yaml of its data dir (the built-in prices without one). */
export function fleetSourceOf(store: Store): FleetSource {
  const paths = dataPaths(dirname(dirname(resolve(store.file))));
  let pricing = new Pricing();
  if (paths.storeFile === resolve(store.file)) {
    try {
      pricing = new Pricing(loadConfig(paths).pricing);
    } catch {
      // A config that does not load is reported by the collector itself; the list prices do here.
    }
  }
  return { store, pricing };
}

/** This collector's agents active in the window, most recently active first. */
export function localAgents(src: FleetSource, w: FleetWindow): InstanceRows<AgentSummary> {
  const rows = listAgents(src.store, src.pricing, w.since !== undefined ? { since: w.since } : {});
  return {
    store_id: storeId(src.store),
    rows: w.until === undefined ? rows : rows.filter((a) => (a.first_ts ?? 0) <= (w.until as number)),
  };
}

/** This collector's file conflicts whose second access is in the window, oldest first. */
export function localConflicts(src: FleetSource, q: ConflictQuery): InstanceRows<FileConflict> {
  const rows = findConflicts(src.store, {
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(q.windowMs !== undefined ? { windowMs: q.windowMs } : {}),
  });
  return {
    store_id: storeId(src.store),
    rows: q.until === undefined ? rows : rows.filter((c) => c.second.ts <= (q.until as number)),
  };
}

/** The query string of a fleet request. */
export function fleetParams(q: ConflictQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (q.since !== undefined) p.set('since', String(q.since));
  if (q.until !== undefined) p.set('until', String(q.until));
  if (q.windowMs !== undefined) p.set('window_ms', String(q.windowMs));
  return p;
}

/** The fleet request a query string describes; throws on a value that is not a non-negative number. */
export function parseFleetParams(p: URLSearchParams): ConflictQuery {
  const out: ConflictQuery = {};
  for (const [key, field] of [
    ['since', 'since'],
    ['until', 'until'],
    ['window_ms', 'windowMs'],
  ] as const) {
    const v = p.get(key);
    if (v === null || v === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`${key} must be a number of ms, got "${v}"`);
    out[field] = n;
  }
  return out;
}

/** Checks the shape of a peer's answer (a peer may be anything that answers HTTP). */
function rowsOf<T>(key: 'agents' | 'conflicts', valid: (row: Record<string, unknown>) => boolean) {
  return (body: unknown): InstanceRows<T> => {
    if (!isObject(body) || typeof body.store_id !== 'string') throw new Error('no store_id');
    const rows = body[key];
    if (!Array.isArray(rows) || !rows.every((r) => isObject(r) && valid(r)))
      throw new Error(`${key} is not a list of ${key}`);
    return { store_id: body.store_id, rows: rows as T[] };
  };
}

const agentRows = rowsOf<AgentSummary>(
  'agents',
  (r) => typeof r.session_id === 'string' && typeof r.agent_id === 'string' && typeof r.events === 'number',
);
const conflictRows = rowsOf<FileConflict>(
  'conflicts',
  (r) => typeof r.file_path === 'string' && isObject(r.first) && isObject(r.second),
);

/** Lets the requests just started reach the network before a synchronous store scan holds the thread. */
async function letRequestsStart(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

async function gather<T>(
  local: () => InstanceRows<T>,
  peers: Federation | undefined,
  path: string,
  params: URLSearchParams,
  parse: (body: unknown) => InstanceRows<T>,
): Promise<FleetAnswer<T & { instance: string }>> {
  const asked = peers?.getJson(path, params, parse);
  if (asked) await letRequestsStart();
  const rows: (T & { instance: string })[] = [];
  const seen = new Map<string, string>();
  const add = (name: string, answer: InstanceRows<T>, report: InstanceReport): InstanceReport => {
    const same = seen.get(answer.store_id);
    if (same !== undefined) return { ...report, note: `same store as ${same}: its rows are not repeated` };
    seen.set(answer.store_id, name);
    for (const r of answer.rows) rows.push({ ...r, instance: name });
    return report;
  };
  const started = performance.now();
  const reports: InstanceReport[] = [];
  try {
    const own = local();
    reports.push(add(LOCAL_INSTANCE, own, { name: LOCAL_INSTANCE, ok: true, ms: elapsedMs(started) }));
  } catch (err) {
    reports.push({ name: LOCAL_INSTANCE, ok: false, ms: elapsedMs(started), error: (err as Error).message });
  }
  for (const a of (await asked) ?? [])
    reports.push(a.value !== undefined ? add(a.report.name, a.value, a.report) : a.report);
  return { rows, instances: reports, partial: reports.some((r) => !r.ok) };
}

/** Agents of this collector and of its peers, most recently active first. */
export async function fleetAgents(
  src: FleetSource,
  peers: Federation | undefined,
  w: FleetWindow,
): Promise<FleetAnswer<FleetAgent>> {
  const r = await gather(() => localAgents(src, w), peers, FLEET_AGENTS_PATH, fleetParams(w), agentRows);
  r.rows.sort((a, b) => (b.last_ts ?? 0) - (a.last_ts ?? 0));
  return r;
}

/** File conflicts found by this collector and by its peers, oldest first (each within one instance). */
export async function fleetConflicts(
  src: FleetSource,
  peers: Federation | undefined,
  q: ConflictQuery,
): Promise<FleetAnswer<FleetConflict>> {
  const r = await gather(
    () => localConflicts(src, q),
    peers,
    FLEET_CONFLICTS_PATH,
    fleetParams(q),
    conflictRows,
  );
  r.rows.sort((x, y) => x.second.ts - y.second.ts);
  return r;
}

/** The answer an instance gives on its API, under the key its peers read. */
export function instanceBody<T>(key: 'agents' | 'conflicts', r: InstanceRows<T>) {
  return { store_id: r.store_id, [key]: r.rows };
}
