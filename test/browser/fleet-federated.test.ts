/**
 * The Fleet view of a collector with federation instances, in Debian's Chromium: a peer's agents appear beside
 * this collector's, with instance and host columns, and a peer that does not answer is named. In one process:
 * the peer is an API server on 127.0.0.1 over its own store, the other instance a port nothing listens on.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { QueryEngine } from '../../src/query/index.ts';
import { type DashboardServer, startDashboardServer } from '../../src/server/dashboard.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { Store } from '../../src/store/index.ts';
import { fill } from '../fleet-helpers.ts';
import { tempPaths } from '../helpers.ts';
import { CHROMIUM, launchChromium } from './chromium.ts';
import { panelsSettled } from './panels.ts';

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed; browser tests skipped`;
const paths = tempPaths('fleet-fed-browser');
const peerStore = Store.open(':memory:');
let store: Store;
let peer: ApiServer;
let dash: DashboardServer;
let ctx: BrowserContext | undefined;

const refuse = {
  ingestEvents() {
    throw new Error('no pushes in this test');
  },
};

before(async () => {
  fill(peerStore, 'buildbox');
  peer = await startApiServer({ store: peerStore, pipeline: refuse, host: '127.0.0.1', port: 0 });
  const gone = await startApiServer({ store: peerStore, pipeline: refuse, host: '127.0.0.1', port: 0 });
  await gone.close();
  writeFileSync(
    paths.config,
    `federation:\n  timeout_ms: 3000\n  instances:\n    - { name: build, url: "${peer.url}" }\n    - { name: gone, url: "${gone.url}" }\n`,
  );
  store = Store.open(paths.storeFile);
  fill(store, 'laptop');
  dash = await startDashboardServer({
    store,
    engine: new QueryEngine(store),
    paths,
    host: '127.0.0.1',
    port: 0,
  });
});

after(async () => {
  await ctx?.close();
  await dash?.close();
  await peer?.close();
  store?.close();
  peerStore.close();
  rmSync(paths.home, { recursive: true, force: true });
});

test('Fleet lists the agents of every instance and names the one that failed', { skip }, async () => {
  ctx = await launchChromium();
  const page = await ctx.newPage();
  await page.goto(`${dash.url}/?view=fleet&range=24h`);
  await panelsSettled(page);
  const head = await page.locator('[data-table="agents"] thead th').allInnerTexts();
  assert.deepEqual(head.slice(0, 4), ['instance', 'session', 'agent', 'host']);
  const rows = await page
    .locator('[data-table="agents"] tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  const seen = new Set(rows.map((r) => `${r[0]} ${r[3]}`));
  assert.deepEqual([...seen].sort(), ['build buildbox', 'local laptop']);
  const res = await fetch(`${dash.url}/api/dashboard/fleet?start=0&end=${Date.now() + 60_000}`);
  const api = (await res.json()) as { agentsInRange: number };
  assert.equal(rows.length, api.agentsInRange);
  const failed = await page.locator('[data-failed-instances]').innerText();
  assert.match(failed, /no answer from gone \(/);
  assert.doesNotMatch(failed, /build/);
});
