/** Real events for forwarding and federation tests: recorded Claude Code hook payloads, normalized. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/audit/index.ts';
import { normalize } from '../src/ingest/index.ts';
import type { TelemetryEvent } from '../src/types.ts';
import { fixturePayloads } from './helpers.ts';

export interface EventOptions {
  /** Time of the first event (ms); each next one is 1 s later. */
  startMs?: number;
  host?: string;
  projectDir?: string;
}

/** n events cycling through the recorded payloads, each from a distinct spool record (distinct ids). */
export function fixtureEvents(n: number, opts: EventOptions = {}): TelemetryEvent[] {
  const payloads = fixturePayloads();
  const start = opts.startMs ?? Date.UTC(2026, 0, 5, 9, 0, 0);
  const projectDir = opts.projectDir ?? '/home/dev/project';
  return Array.from({ length: n }, (_, i) => {
    const payload = { ...payloads[i % payloads.length], cwd: projectDir };
    const mtimeMs = start + i * 1000;
    return normalize(
      {
        name: `${mtimeMs}.${i}.${opts.host ?? 'box'}.project`,
        path: `/spool/new/${i}`,
        mtimeMs,
        scope: 'project',
        projectDir,
        body: Buffer.from(JSON.stringify(payload)),
      },
      { user: 'dev', host: opts.host ?? 'box', telemetryVersion: '0.1.0', capture: 'metadata' },
    );
  });
}

/** A fresh audit log in a temp data dir (returns the data dir too). */
export function tempAudit(tag: string): { home: string; audit: AuditLog } {
  const home = mkdtempSync(join(tmpdir(), `ct-${tag}-`));
  return {
    home,
    audit: AuditLog.open(join(home, 'audit'), { keysDir: join(home, 'keys'), checkpointEvery: 0 }),
  };
}
