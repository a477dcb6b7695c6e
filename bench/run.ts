/**
 * `npm run bench [-- hook ingest freshness scale push federation query detect dashboard transcripts agents fleet session]`:
 * runs the named benchmarks (default: all but `fleet`, five minutes of 12 agents, and
 * `session`, which needs Claude Code installed by scripts/install-claude-code.sh) and prints one JSON
 * document with the machine description. BENCHMARKS.md records the results.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { runAgentsBench } from './agents.ts';
import { runAnalyticsBench } from './analytics.ts';
import { runDashboardBench } from './dashboard.ts';
import { runDetectBench } from './detect.ts';
import { runFederationBench } from './federation.ts';
import { runFleetBench } from './fleet.ts';
import { runFreshnessBench } from './freshness.ts';
import { runHookBench } from './hook.ts';
import { runIngestBench } from './ingest.ts';
import { runPushBench } from './push.ts';
import { runQueryBench } from './query.ts';
import { runScaleBench } from './scale.ts';
import { runTranscriptsBench } from './transcripts.ts';
import { machine } from './util.ts';

const ALL = [
  'hook',
  'ingest',
  'freshness',
  'scale',
  'push',
  'federation',
  'query',
  'detect',
  'dashboard',
  'transcripts',
  'analytics',
  'agents',
  'fleet',
  'session',
] as const;
const picked = process.argv.slice(2).filter((a) => (ALL as readonly string[]).includes(a));
const which = picked.length > 0 ? picked : ALL.filter((x) => x !== 'session' && x !== 'fleet');

const results: Record<string, unknown> = { machine: machine(), at: new Date().toISOString() };
for (const name of which) {
  process.stderr.write(`bench: ${name}...\n`);
  const t = performance.now();
  if (name === 'hook') results.hook = runHookBench();
  if (name === 'ingest') results.ingest = await runIngestBench();
  if (name === 'freshness') results.freshness = await runFreshnessBench();
  if (name === 'scale') results.scale = await runScaleBench();
  if (name === 'push') results.push = await runPushBench();
  if (name === 'federation') results.federation = await runFederationBench();
  if (name === 'query') results.query = await runQueryBench();
  if (name === 'detect') results.detect = await runDetectBench();
  if (name === 'dashboard') results.dashboard = await runDashboardBench();
  if (name === 'analytics') results.analytics = await runAnalyticsBench();
  if (name === 'transcripts') results.transcripts = await runTranscriptsBench();
  if (name === 'agents') results.agents = await runAgentsBench();
  if (name === 'fleet') results.fleet = await runFleetBench();
  if (name === 'session') {
    const { runClaudeSessionBench } = await import('./claude-session.ts');
    results.session = await runClaudeSessionBench();
  }
  process.stderr.write(`bench: ${name} done in ${Math.round((performance.now() - t) / 1000)} s\n`);
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/latest.json`, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
