import { dataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import type { TelemetryEvent } from '../types.ts';
import { type CommandSpec, type Options, parse, parseLimit, parseTime, UsageError } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';
import { EVENT_FILTER_HELP, EVENT_FILTER_OPTIONS, eventFilter } from './filters.ts';
import { detectionsSummary, eventSummary, logLine, plural, shortId, shortTime, table } from './format.ts';
import { runLogQL } from './logql.ts';

function openStore(): Store {
  const paths = dataPaths();
  try {
    return Store.open(paths.storeFile);
  } catch (err) {
    throw new Error(`cannot open the store at ${paths.storeFile}: ${(err as Error).message}`);
  }
}

const FILTER_OPTIONS = {
  ...EVENT_FILTER_OPTIONS,
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const FILTER_HELP = [
  ...EVENT_FILTER_HELP,
  '--limit N             at most N events (default 100)',
  '--json                JSON array of full events',
];

const LOGQL_OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  step: { type: 'string' },
  direction: { type: 'string' },
  instant: { type: 'boolean' },
  raw: { type: 'boolean' },
  federated: { type: 'boolean' },
} as const;

const querySpec = {
  name: 'query',
  summary: "Search stored events with LogQL (as Loki's API answers it) or with simple filters.",
  usage:
    "query '<LogQL>' [--since T | --from T --to T] [--limit N] [--step D] [--json | --raw]\n" +
    '       claude-telemetry query [filters] [--json]',
  options: { ...FILTER_OPTIONS, ...LOGQL_OPTIONS },
  positionals: true,
  help: [
    'With a LogQL query (docs/logql.md lists labels and functions):',
    '--since T             start this long ago (default 1h), or --from T; --to T ends earlier than now',
    '--limit N             log queries: at most N lines (default 100)',
    '--step D              metric queries: resolution, e.g. 30s, 1m (default: the range in ~250 steps)',
    '--direction D         backward (newest first, default) or forward, before the limit applies',
    '--instant             evaluate a metric query once, at --to (a vector, as /query answers)',
    '--raw                 print log lines exactly as stored',
    '--json                the API response ({"status":"success","data":...})',
    '--federated           ask every instance under federation.instances in config.yaml and merge',
    '',
    'Without a query, filters:',
    ...FILTER_HELP,
  ],
  examples: [
    `claude-telemetry query '{service="claude-telemetry", event="file_read"}' --since 24h`,
    `claude-telemetry query 'sum by (tool) (count_over_time({service="claude-telemetry"}[1h]))' --instant`,
    `claude-telemetry query '{service="claude-telemetry"} | json | outside_project_scope="true"'`,
    'claude-telemetry query --tool Bash --since 1h',
    'claude-telemetry query --outside-scope --json',
    'claude-telemetry examples        (more, with what each one answers)',
  ],
} satisfies CommandSpec<Options>;

const FILTER_KEYS = ['session', 'project', 'tool', 'event', 'outside-scope'] as const;
const LOGQL_ONLY = ['from', 'to', 'step', 'direction', 'instant', 'raw', 'federated'] as const;

export const query: Command = {
  spec: querySpec,
  async run(argv) {
    const { values, positionals } = parse(querySpec, argv);
    if (positionals.length > 1) {
      throw new UsageError(`query: give the LogQL query as one argument, in single quotes`);
    }
    const logql = positionals[0];
    if (logql !== undefined) {
      const mixed = FILTER_KEYS.find((k) => values[k] !== undefined);
      if (mixed)
        throw new UsageError(`query: --${mixed} is a filter option; with LogQL, put it in the selector`);
      return runLogQL(logql, values);
    }
    const onlyLogql = LOGQL_ONLY.find((k) => values[k] !== undefined);
    if (onlyLogql) throw new UsageError(`query: --${onlyLogql} needs a LogQL query`);
    const store = openStore();
    try {
      const events = store.query({
        ...eventFilter(values, store),
        limit: parseLimit(values.limit, 100),
        order: 'asc',
      });
      if (values.json) printJson(events);
      else printEventTable(events);
      return 0;
    } finally {
      store.close();
    }
  },
};

function printEventTable(events: TelemetryEvent[]): void {
  if (events.length === 0) {
    println('no events match (try a wider --since, or check `claude-telemetry status`)');
    return;
  }
  println(
    table(
      ['time', 'session', 'hook', 'event_type', 'tool', 'scope', 'security', 'details'],
      events.map((e) => [
        shortTime(e.timestamp),
        shortId(e.session_id),
        e.hook_event,
        e.event_type,
        e.tool_name ?? '',
        e.action_details.outside_project_scope ? 'OUTSIDE' : '',
        detectionsSummary(e),
        eventSummary(e),
      ]),
    ),
  );
  println(plural(events.length, 'event'));
}

const logsSpec = {
  name: 'logs',
  summary: 'Show the latest events, readable; -f follows new events as they arrive.',
  usage: 'logs [-f] [-n N] [--json]',
  options: {
    follow: { type: 'boolean', short: 'f' },
    lines: { type: 'string', short: 'n' },
    json: { type: 'boolean' },
  },
  help: [
    '-f, --follow          keep printing new events (Ctrl-C to stop)',
    '-n, --lines N         how many recent events to show first (default 20)',
    '--json                one JSON event per line (JSONL)',
  ],
} satisfies CommandSpec<Options>;

export const logs: Command = {
  spec: logsSpec,
  async run(argv) {
    const { values } = parse(logsSpec, argv);
    const n = parseLimit(values.lines, 20);
    const store = openStore();
    const print = (e: TelemetryEvent) => out.write(`${values.json ? JSON.stringify(e) : logLine(e)}\n`);
    try {
      // The follow position is taken before the recent events are read: an event stored in between is then
      // seen by both, and printed once (by id), instead of by neither.
      let after = store.maxSeq();
      const recent = store.query({ limit: n, order: 'desc' }).reverse();
      for (const e of recent) print(e);
      if (!values.follow) return 0;
      const shown = new Set(recent.map((e) => e.id));
      let stop = false;
      const onSig = () => {
        stop = true;
      };
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      while (!stop) {
        const rows = store.eventsAfter(after, 500);
        for (const r of rows) {
          if (!shown.delete(r.event.id)) print(r.event);
          after = r.seq;
        }
        if (rows.length < 500) await new Promise((r) => setTimeout(r, 200));
      }
      return 0;
    } finally {
      store.close();
    }
  },
};

const sessionsSpec = {
  name: 'sessions',
  summary: 'List sessions: project, start, end, event and tool-call counts.',
  usage: 'sessions [--project NAME] [--since T] [--limit N] [--json]',
  options: {
    project: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: [
    '--project NAME        only this project (name or path)',
    '--since T             sessions active since T (15m, 2h, 7d, ISO)',
    '--limit N             at most N sessions, newest first (default 50)',
    '--json                machine-readable output',
  ],
} satisfies CommandSpec<Options>;

export const sessions: Command = {
  spec: sessionsSpec,
  async run(argv) {
    const { values, positionals } = parse(sessionsSpec, argv);
    if (positionals.length > 0) throw new UsageError('sessions takes no positional arguments');
    const store = openStore();
    try {
      const list = store.sessions({
        ...(values.project ? { project: values.project } : {}),
        ...(values.since ? { since: parseTime(values.since, '--since') } : {}),
        limit: parseLimit(values.limit, 50),
      });
      if (values.json) {
        printJson(list);
        return 0;
      }
      if (list.length === 0) {
        println('no sessions stored yet');
        return 0;
      }
      println(
        table(
          ['session', 'project', 'start', 'end', 'events', 'tool calls'],
          list.map((s) => [
            s.session_id,
            s.project_name ?? '',
            shortTime(s.first_ts),
            shortTime(s.last_ts),
            String(s.events),
            String(s.tool_calls),
          ]),
        ),
      );
      return 0;
    } finally {
      store.close();
    }
  },
};
