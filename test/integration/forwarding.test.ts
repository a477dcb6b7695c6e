import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { CollectorStatusFile } from '../../src/collector/collector.ts';
import { Collector } from '../../src/collector/collector.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { parseForwardingConfig } from '../../src/sinks/config.ts';
import { tempPaths, waitFor, writeSpoolFiles } from '../helpers.ts';
import { startReceiver } from '../http-receiver.ts';

test('the collector forwards every ingested event to a configured Loki sink and reports it in its status', async () => {
  const receiver = await startReceiver(() => ({ status: 204 }));
  after(() => receiver.close());
  const paths = tempPaths('forwarding');
  const forwarding = parseForwardingConfig(
    { sinks: [{ name: 'central', type: 'loki', url: receiver.url, encoding: 'json', batch_wait_ms: 50 }] },
    (msg) => {
      throw new Error(msg);
    },
  );
  const c = await Collector.open(paths, { ...DEFAULT_CONFIG, ...forwarding });
  c.start();
  writeSpoolFiles(paths, 120);
  const ids = new Set<string>();
  await waitFor(() => {
    for (const r of receiver.accepted.splice(0)) {
      const body = JSON.parse(
        (r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body).toString('utf8'),
      ) as { streams: { values: [string, string][] }[] };
      for (const s of body.streams)
        for (const [, line] of s.values) ids.add((JSON.parse(line) as { id: string }).id);
    }
    return ids.size >= 120;
  }, 15_000);
  assert.equal(ids.size, 120, 'each event once');
  await c.stop();
  const st = JSON.parse(readFileSync(paths.statusFile, 'utf8')) as CollectorStatusFile;
  const sink = st.sinks?.[0];
  assert.ok(sink, 'status names the sink');
  assert.equal(sink.name, 'central');
  assert.equal(sink.lagEntries, 0);
  assert.equal(sink.sent, 120);
});
