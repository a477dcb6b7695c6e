/**
 * Twelve agents started separately (each with its own CLAUDE_TELEMETRY_AGENT_ID) fire hook calls at once
 * through the real hook into a running collector (API and dashboard on free ports): nothing is lost or stored
 * twice, every agent shows in the agents view, and exactly the conflicts planted on purpose are found and
 * raised as alerts. FLEET_TEST_SECONDS sets the duration (default 20 s); `npm run bench -- fleet` runs it for
 * five minutes.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { openStoreWhenReady, runFleet, startCollector, stopCollector } from '../../bench/fleet.ts';
import { tempPaths } from '../helpers.ts';

const SECONDS = Number(process.env.FLEET_TEST_SECONDS ?? 20);

test(`12 concurrent agents for ${SECONDS} s through the real hook and collector`, {
  timeout: (SECONDS + 240) * 1000,
}, async () => {
  const paths = tempPaths('fleet');
  const child = startCollector(paths);
  try {
    (await openStoreWhenReady(paths)).close();
    const r = await runFleet(paths, { agents: 12, durationMs: SECONDS * 1000 });
    process.stdout.write(`fleet: ${JSON.stringify(r)}\n`);
    assert.equal(r.hookFailures, 0, 'every hook call exits 0');
    assert.ok(r.hookCalls > 12 * 20, `enough traffic: ${r.hookCalls} calls`);
    assert.equal(r.spoolLeft, 0, 'spool drained');
    assert.equal(r.lost, 0, 'nothing lost');
    assert.equal(r.duplicated, 0, 'nothing stored twice');
    assert.equal(r.stored, r.hookCalls);
    assert.equal(r.fleetAgentsListed, 12, 'every fleet agent in the agents view');
    assert.equal(r.subagentsListed, r.subagentsStarted, 'every subagent listed under its fleet agent');
    assert.ok(r.plantedConflicts >= 4, `conflicts planted: ${r.plantedConflicts}`);
    assert.equal(r.plantedFound, r.plantedConflicts, 'every planted conflict found');
    assert.equal(r.unexpectedConflicts, 0, 'and nothing else');
    assert.ok(r.conflictAlerts >= 2, `conflicts raised as alerts while ingesting: ${r.conflictAlerts}`);
  } finally {
    await stopCollector(child);
    rmSync(paths.home, { recursive: true, force: true });
  }
});
