import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { startAnalytics } from '../analytics/service.ts';
import { installHook } from '../capture/install.ts';
import * as spool from '../capture/spool.ts';
import { Collector } from '../collector/collector.ts';
import {
  claimPidFile,
  readStatusFile,
  releasePidFile,
  runningPid,
  startBackground,
  stopCollector,
} from '../collector/control.ts';
import { type Config, loadConfig } from '../config/config.ts';
import { type DataPaths, dataPaths } from '../config/paths.ts';
import { startDailyCleanup } from '../ops/retention.ts';
import { Federation, type InstanceReport } from '../query/federation.ts';
import { QueryEngine } from '../query/index.ts';
import { serveDashboard } from '../server/dashboard.ts';
import { type ApiServer, startApiServer } from '../server/index.ts';
import type { SinkStatus } from '../sinks/index.ts';
import { Store } from '../store/index.ts';
import { startUsageFollower } from '../usage/tailer.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural } from './format.ts';

// dist/cli/main.js when compiled, src/cli/main.ts when run from source.
const CLI_ENTRY = fileURLToPath(new URL(`./main${extname(import.meta.url)}`, import.meta.url));

/**
 * V8 flags for the collector's main thread (its worker threads set their own limits: releaseSemiSpaceFlags).
 * Its allocation comes in bursts (a batch of spool files parsed, judged and written), and a young generation
 * grown to V8's default 16 MB semi-spaces in one stays committed afterwards; 8 MB semi-spaces keep less
 * resident after a burst at the same CPU per ingested event (smaller ones cost 5-10% more). The same size as
 * a floor: without it the bursts after the first ran about a tenth slower (14,429 against 15,977 events/s,
 * medians of six bursts in three interleaved pairs of started collectors), at the same resident size once a
 * burst has settled (140 and 139 MB in a paired run).
 */
const SEMI_SPACE_FLAGS = ['--max-semi-space-size=8', '--min-semi-space-size=8'];
export const COLLECTOR_NODE_FLAGS = [...SEMI_SPACE_FLAGS];

const flagName = (flag: string) => flag.split('=')[0] as string;

/**
 * V8 lets the semi-space flags win over a worker thread's own `resourceLimits.maxYoungGenerationSizeMb`, so
 * with COLLECTOR_NODE_FLAGS the I/O and analytics threads each grew 8 MB semi-spaces too (16 MB kept after a
 * burst). The flags are read when a thread's heap is set up: once the main thread's is, they are cleared, and
 * the threads started afterwards get the young generation they ask for. Only the collector's own flags are
 * cleared (ones the user set are left as set); returns whether any was.
 */
export function releaseSemiSpaceFlags(execArgv: readonly string[] = process.execArgv): boolean {
  let released = false;
  for (const flag of SEMI_SPACE_FLAGS) {
    if (!execArgv.includes(flag)) continue;
    setFlagsFromString(`${flagName(flag)}=0`);
    released = true;
  }
  return released;
}

/**
 * Environment for the collector process, unless already set: glibc's malloc at two arenas instead of eight per
 * core, so that memory SQLite and V8 freed on one thread is not kept aside for that thread alone; and its trim
 * threshold fixed at its default 128 KiB, which glibc otherwise raises (up to 64 MB) each time a large block
 * is freed, after which the free memory at the top of an arena stays resident (12 MB less once a burst has
 * settled at 1M stored events, no measurable CPU per ingested event).
 */
export const COLLECTOR_ENV: Record<string, string> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * Node's arguments for the collector process: this process's, with COLLECTOR_NODE_FLAGS unless the user set a
 * young-generation size (either semi-space flag, on the command line or in NODE_OPTIONS): the two go together.
 */
export function collectorExecArgv(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const args = [...execArgv, ...nodeOptions.split(/\s+/)];
  const given = (name: string) => args.some((a) => a === name || a.startsWith(`${name}=`));
  if (SEMI_SPACE_FLAGS.some((f) => given(flagName(f)))) return [...execArgv];
  return [...execArgv, ...COLLECTOR_NODE_FLAGS];
}

/**
 * Starts the collector in the background: startBackground spawns node with this process's execArgv and
 * environment, which get the collector's flags and variables first.
 */
function startDaemon(paths: DataPaths): Promise<number> {
  process.execArgv.splice(0, process.execArgv.length, ...collectorExecArgv());
  for (const [k, v] of Object.entries(COLLECTOR_ENV)) process.env[k] ??= v;
  return startBackground(paths, CLI_ENTRY);
}

const setupSpec = {
  name: 'setup',
  summary: 'Create the data dir (mode 0700) and install the capture hook into it.',
  usage: 'setup [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                print the paths as JSON'],
} satisfies CommandSpec<Options>;

export const setup: Command = {
  spec: setupSpec,
  async run(argv) {
    const { values } = parse(setupSpec, argv);
    const paths = dataPaths();
    installHook(paths);
    loadConfig(paths);
    if (values.json) printJson({ home: paths.home, hook: paths.hook, spool: paths.spool });
    else {
      println(`data dir:  ${paths.home}`);
      println(`hook:      ${paths.hook}`);
      println('next:      claude-telemetry start, then claude-telemetry connect in a project');
    }
    return 0;
  },
};

const startSpec = {
  name: 'start',
  summary: 'Start the collector in the background (pid file and log under the data dir).',
  usage: 'start [--foreground] [--json]',
  options: { foreground: { type: 'boolean' }, json: { type: 'boolean' } },
  help: [
    '--foreground          run in this terminal until Ctrl-C (logs to stdout)',
    '--json                print {pid, log} as JSON',
  ],
} satisfies CommandSpec<Options>;

export const start: Command = {
  spec: startSpec,
  async run(argv) {
    const { values } = parse(startSpec, argv);
    const paths = dataPaths();
    installHook(paths);
    loadConfig(paths); // fail fast on a broken config, before forking
    if (values.foreground) return runForeground(paths);
    const already = runningPid(paths);
    const pid = await startDaemon(paths);
    if (values.json) printJson({ pid, alreadyRunning: already !== undefined, log: paths.logFile });
    else if (already !== undefined) println(`collector already running (pid ${pid})`);
    else {
      println(`collector started (pid ${pid})`);
      println(`log:  ${paths.logFile}`);
      println(`data: ${paths.home}`);
      println('next: run `claude-telemetry connect` inside a project, then use Claude Code as usual');
    }
    return 0;
  },
};

/**
 * The Loki-compatible API next to the collector, on its store and pipeline. Capture and ingestion never
 * depend on it: if the port is taken, the collector runs on and the log says what to change.
 */
async function serveApi(
  collector: Collector,
  config: Config,
  log: (m: string) => void,
): Promise<ApiServer | undefined> {
  if (!config.server.enabled) return undefined;
  try {
    const api = await startApiServer({
      store: collector.store,
      pipeline: collector.pipeline,
      engine: new QueryEngine(collector.store),
      ...(config.federation.instances.length > 0 ? { federation: new Federation(config.federation) } : {}),
      otel: collector.store,
      host: config.server.host,
      port: config.server.port,
      maxBodyBytes: config.server.maxBodyBytes,
      log,
    });
    collector.api = { url: api.url, port: api.port };
    log(`Loki-compatible API on ${api.url}`);
    return api;
  } catch (err) {
    log(
      `API not served: ${(err as Error).message}; change server.port in config.yaml (or set server.enabled: false)`,
    );
    return undefined;
  }
}

async function runForeground(paths: DataPaths): Promise<number> {
  releaseSemiSpaceFlags();
  const config = loadConfig(paths);
  const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  // Caught from the very start: a stop requested during start-up is honoured, gracefully, once start-up is done.
  const stopRequested = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  claimPidFile(paths);
  let collector: Collector;
  try {
    collector = await Collector.open(paths, config, log);
  } catch (err) {
    releasePidFile(paths);
    throw err;
  }
  collector.start();
  log(`collector running (pid ${process.pid}), spool ${paths.spoolNew}`);
  const api = await serveApi(collector, config, log);
  const dashboard = await serveDashboard(collector.store, config, paths, log);
  // Retention (retention: in config.yaml) runs inside the collector once a day, first after ten minutes.
  const cleanup = startDailyCleanup({ paths, config, store: collector.store, log });
  // Token usage: the transcripts of the sessions the collector sees, followed beside ingestion.
  const usage = startUsageFollower({ store: collector.store, log });
  // Behavioural analytics: sessions scored as they progress, the model retrained, on a thread of its own.
  const analytics = startAnalytics({ paths, config, log });
  log(`${await stopRequested}: finishing the current batch and stopping`);
  cleanup.stop();
  await usage.stop();
  await analytics?.stop();
  await dashboard?.close();
  await api?.close();
  await collector.stop();
  releasePidFile(paths);
  log('collector stopped');
  return 0;
}

const stopSpec = {
  name: 'stop',
  summary: 'Stop the collector: graceful (finishes its batch, checkpoints the audit log), forced after 10 s.',
  usage: 'stop [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                print {result} as JSON'],
} satisfies CommandSpec<Options>;

export const stop: Command = {
  spec: stopSpec,
  async run(argv) {
    const { values } = parse(stopSpec, argv);
    const result = await stopCollector(dataPaths());
    if (values.json) printJson({ result });
    else
      println(
        result === 'not-running'
          ? 'collector is not running'
          : result === 'stopped'
            ? 'collector stopped'
            : 'collector did not stop within 10 s and was killed',
      );
    return 0;
  },
};

const restartSpec = {
  name: 'restart',
  summary: 'Stop the collector (if running) and start it again in the background.',
  usage: 'restart',
  options: {},
  help: [],
} satisfies CommandSpec<Options>;

export const restart: Command = {
  spec: restartSpec,
  async run(argv) {
    parse(restartSpec, argv);
    const paths = dataPaths();
    await stopCollector(paths);
    const pid = await startDaemon(paths);
    println(`collector restarted (pid ${pid})`);
    return 0;
  },
};

export interface StatusReport {
  running: boolean;
  pid?: number;
  startedAt?: string;
  dataDir: string;
  ports: number[];
  spoolBacklog: number;
  eventsStored: number;
  sessions: number;
  lastEvent?: string;
  quarantined: number;
  ingestedSinceStart?: number;
  /** The Loki-compatible API the collector serves, when it runs. */
  api?: string;
  /** Forwarding to remote engines, per sink (from the running collector). */
  sinks?: SinkStatus[];
  /** Federated instances and whether each answers /ready (status asks them; bounded by their timeout). */
  federation?: InstanceReport[];
}

export function statusReport(paths: DataPaths): StatusReport {
  const pid = runningPid(paths);
  const st = pid !== undefined ? readStatusFile(paths) : undefined;
  let eventsStored = 0;
  let sessions = 0;
  let lastEvent: string | undefined;
  try {
    const store = Store.open(paths.storeFile);
    try {
      const s = store.stats();
      eventsStored = s.events;
      sessions = s.sessions;
      if (s.lastEventTs) lastEvent = new Date(s.lastEventTs).toISOString();
    } finally {
      store.close();
    }
  } catch {
    // no store yet
  }
  const b = spool.backlog(paths);
  return {
    running: pid !== undefined,
    ...(pid !== undefined ? { pid } : {}),
    ...(st?.startedAt ? { startedAt: st.startedAt } : {}),
    dataDir: paths.home,
    ports: st?.api ? [st.api.port] : [],
    spoolBacklog: b,
    eventsStored,
    sessions,
    ...(lastEvent ? { lastEvent } : {}),
    quarantined: spool.quarantineCount(paths),
    ...(st ? { ingestedSinceStart: st.stored } : {}),
    ...(st?.api ? { api: st.api.url } : {}),
    ...(st?.sinks ? { sinks: st.sinks } : {}),
  };
}

/** Health of the configured federation instances (empty when none are configured). */
async function federationHealth(paths: DataPaths): Promise<InstanceReport[]> {
  const config = loadConfig(paths);
  if (config.federation.instances.length === 0) return [];
  return new Federation(config.federation).health();
}

const statusSpec = {
  name: 'status',
  summary: 'Is the collector running? Spool backlog, events stored, last event, quarantine count.',
  usage: 'status [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                machine-readable output'],
} satisfies CommandSpec<Options>;

export const status: Command = {
  spec: statusSpec,
  async run(argv) {
    const { values } = parse(statusSpec, argv);
    const paths = dataPaths();
    const r = statusReport(paths);
    const fed = await federationHealth(paths);
    if (fed.length > 0) r.federation = fed;
    if (values.json) {
      printJson(r);
      return 0;
    }
    println(
      `collector:     ${r.running ? `running (pid ${r.pid}, since ${r.startedAt ?? '?'})` : 'stopped'}`,
    );
    println(`data dir:      ${r.dataDir}`);
    println(`api:           ${r.api ?? (r.running ? 'not served (see the collector log)' : 'none')}`);
    println(`spool backlog: ${r.spoolBacklog}`);
    println(`events stored: ${r.eventsStored} in ${plural(r.sessions, 'session')}`);
    println(`last event:    ${r.lastEvent ?? 'none yet'}`);
    println(
      `quarantined:   ${r.quarantined}${r.quarantined > 0 ? ' (see quarantine/ in the data dir)' : ''}`,
    );
    for (const k of r.sinks ?? []) {
      const lag = k.lagEntries > 0 ? `${k.lagEntries} behind (${Math.round(k.lagSeconds)} s)` : 'caught up';
      const err = k.lastError ? `; last error: ${k.lastError}` : '';
      println(`sink ${k.name}: ${k.type} ${k.url}: ${k.state}, ${lag}, ${k.sent} sent${err}`);
    }
    for (const f of r.federation ?? []) {
      println(
        `instance ${f.name}: ${f.ok ? `ready (${Math.round(f.ms)} ms)` : `not answering: ${f.error ?? '?'}`}`,
      );
    }
    if (!r.running) println('start it with: claude-telemetry start');
    return 0;
  },
};
