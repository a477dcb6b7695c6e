/**
 * The schema step behind the per-agent summary (`agents`, the Fleet view): a store of the previous version
 * gets the wider events_session_ts on open, the counts read that index only, and a window counts what is in it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { listAgents } from '../../src/agents/fleet.ts';
import { SCHEMA_VERSION, Store } from '../../src/store/index.ts';
import { Pricing } from '../../src/usage/pricing.ts';
import { fill, T0 } from '../fleet-helpers.ts';

const pricing = new Pricing();

describe('the per-agent summary index', () => {
  test('a store of the previous version gets it on open, and its agents are listed from it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-schema-'));
    try {
      const file = join(dir, 'events.db');
      const filled = Store.open(file);
      fill(filled, 'old');
      const expected = listAgents(filled, pricing);
      filled.close();
      // Back to the previous version: its narrower index and version number, the events left as they are.
      const db = new Database(file);
      db.exec('DROP INDEX events_session_ts; CREATE INDEX events_session_ts ON events (session_id, ts)');
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(SCHEMA_VERSION - 1);
      db.close();
      const store = Store.open(file);
      try {
        const check = new Database(file, { readonly: true });
        const version = check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as {
          value: number;
        };
        const index = check
          .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'events_session_ts'")
          .get() as { sql: string };
        const plan = check
          .prepare(
            "EXPLAIN QUERY PLAN SELECT agent_id, count(*) FROM events INDEXED BY events_session_ts WHERE session_id = 'x' AND ts >= 0 AND hook_event = 'Stop' AND level = 'ERROR' AND success = 0 GROUP BY agent_id",
          )
          .all() as { detail: string }[];
        const order = check
          .prepare("EXPLAIN QUERY PLAN SELECT line FROM events WHERE session_id = 'x' ORDER BY ts, seq")
          .all() as { detail: string }[];
        check.close();
        assert.equal(Number(version.value), SCHEMA_VERSION);
        assert.match(index.sql, /\(session_id, ts, seq, agent_id, hook_event, level, success\)/);
        assert.match(plan[0]?.detail ?? '', /COVERING INDEX events_session_ts/, 'the counts read no rows');
        assert.deepEqual(
          order.map((p) => p.detail),
          ['SEARCH events USING INDEX events_session_ts (session_id=?)'],
          'a session in time order still needs no sort',
        );
        assert.deepEqual(listAgents(store, pricing), expected);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a window counts only what is in it', () => {
    const store = Store.open(':memory:');
    try {
      fill(store, 'a');
      const all = listAgents(store, pricing);
      const cut = T0 + 500;
      const recent = listAgents(store, pricing, { since: cut });
      assert.ok(all.length > 2);
      assert.ok(recent.length > 0);
      for (const r of recent) {
        const whole = all.find((a) => a.session_id === r.session_id && a.agent_id === r.agent_id);
        assert.ok(whole);
        assert.ok(r.first_ts !== null && r.first_ts >= cut);
        assert.equal(r.last_ts, whole.last_ts);
        assert.ok(r.events <= whole.events);
      }
      const inWindow = store.select('SELECT count(*) AS n FROM events WHERE ts >= ?').get(cut) as {
        n: number;
      };
      assert.equal(
        recent.reduce((n, a) => n + a.events, 0),
        inWindow.n,
      );
    } finally {
      store.close();
    }
  });
});
