/** Data dirs filled with real events (recorded payloads, normalized) for the operations tests. */
import { rmSync } from 'node:fs';
import { AuditLog } from '../src/audit/index.ts';
import { storeRowOf } from '../src/collector/audit-to-store.ts';
import type { DataPaths } from '../src/config/paths.ts';
import { Store } from '../src/store/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import { tempPaths } from './helpers.ts';
import { fixtureEvents } from './telemetry-events.ts';

export const DAY_MS = 86_400_000;

export interface SeedOptions {
  /** Events per day file; each day is one batch appended with the audit clock set to that day. */
  perDay: number;
  days: number;
  /** First day (UTC midnight, ms). Default: `days` days before today. */
  startMs?: number;
  /** Checkpoint after each day (default true), so every day file but the newest is covered by a signature. */
  checkpointDaily?: boolean;
}

const templates = fixtureEvents(48);

/** Distinct copies of the recorded events, `perDay` per day, event time inside that day. */
export function syntheticEvents(n: number, startMs: number, tag = 'e'): TelemetryEvent[] {
  const out: TelemetryEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = templates[i % templates.length] as TelemetryEvent;
    out[i] = {
      ...t,
      id: `${tag}-${startMs}-${i}`,
      session_id: `s-${tag}-${startMs}-${Math.floor(i / 40)}`,
      timestamp: new Date(startMs + i * 10).toISOString(),
    };
  }
  return out;
}

/** Appends to the audit log and the store of `paths` as the collector would, one batch per day. */
export async function seedDays(
  paths: DataPaths,
  o: SeedOptions,
): Promise<{ events: number; firstDay: number }> {
  const now = Date.now();
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const firstDay = o.startMs ?? today - (o.days - 1) * DAY_MS;
  // Each day's events start an hour into the day, or sooner early in the UTC day: halfway to now, so today's
  // are in the past and "older than N days" cuts between two seeded days at any time of day.
  const into = Math.min(3_600_000, Math.floor((now - today) / 2));
  let clock = firstDay;
  const audit = AuditLog.open(paths.audit, {
    keysDir: paths.keys,
    checkpointEvery: 0,
    now: () => new Date(clock),
  });
  const store = Store.open(paths.storeFile);
  let events = 0;
  try {
    for (let d = 0; d < o.days; d++) {
      clock = firstDay + d * DAY_MS + into;
      for (let off = 0; off < o.perDay; off += 5000) {
        const batch = syntheticEvents(Math.min(5000, o.perDay - off), clock + off * 10, `d${d}o${off}`);
        const entries = audit.append(batch);
        store.insertBatch(entries.map(storeRowOf));
        events += batch.length;
      }
      if (o.checkpointDaily !== false) audit.checkpoint();
    }
  } finally {
    audit.close();
    store.close();
  }
  return { events, firstDay };
}

const homes: DataPaths[] = [];

/** A fresh data dir (hook installed), removed by `cleanupHomes()`. */
export function opsHome(tag: string): DataPaths {
  const p = tempPaths(tag);
  homes.push(p);
  return p;
}

export function cleanupHomes(): void {
  for (const p of homes.splice(0)) rmSync(p.home, { recursive: true, force: true });
}
