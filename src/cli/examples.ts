/**
 * `claude-telemetry examples`: LogQL queries worth knowing, with the curl form for the HTTP API, and
 * `--run` to try each one on the local store. The seed's own examples come first, unchanged, so its users
 * find what they already know; the security query its docs gave matched nothing, and the two that work
 * follow it.
 */
import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { type CommandSpec, type Options, parse } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { runQuietly } from './logql.ts';

export interface Example {
  title: string;
  query: string;
  /** Metric query (matrix / vector) rather than log lines. */
  metric?: boolean;
  note?: string;
}

export const EXAMPLES: Example[] = [
  { title: 'Recent activity', query: '{service="claude-telemetry"}' },
  { title: 'All activity for a project', query: '{service="claude-telemetry", project="my-project"}' },
  { title: 'File reads', query: '{service="claude-telemetry", event="file_read"}' },
  { title: 'File modifications', query: '{service="claude-telemetry", event="file_write"}' },
  {
    title: "One session's timeline",
    query: '{service="claude-telemetry", session="16f668a2-ee15"}',
    note: 'a unique prefix of the session id is enough',
  },
  {
    title: 'Access outside the project (the query that works)',
    query: '{service="claude-telemetry"} | json | outside_project_scope="true"',
    note: 'the older `|= "outside_project_scope.*true"` is a literal substring filter and matches nothing',
  },
  {
    title: 'Access outside the project, as a regular expression on the line',
    query: '{service="claude-telemetry"} |~ `"outside_project_scope":\\s*true`',
  },
  { title: 'Bash commands that mention curl', query: '{service="claude-telemetry", tool="Bash"} |= "curl"' },
  { title: 'Failed tool calls', query: '{service="claude-telemetry", level="ERROR"}' },
  { title: 'Security rule hits', query: '{service="claude-telemetry"} |= `"detections":[{`' },
  {
    title: 'Tool calls per tool, last hour',
    query: 'sum by (tool) (count_over_time({service="claude-telemetry", hook_event="PreToolUse"}[1h]))',
    metric: true,
  },
  {
    title: 'Events per minute by type',
    query: 'sum by (event_type) (count_over_time({service="claude-telemetry"}[1m]))',
    metric: true,
  },
  {
    title: 'Slowest tools (p95 duration, ms)',
    query:
      'quantile_over_time(0.95, {service="claude-telemetry", hook_event="PostToolUse"} | json | unwrap duration_ms [1h]) by (tool)',
    metric: true,
  },
  {
    title: 'Busiest sessions',
    query: 'topk(5, sum by (session_id) (count_over_time({service="claude-telemetry"}[1h])))',
    metric: true,
  },
  {
    title: 'Error share of tool calls',
    query:
      'sum(count_over_time({service="claude-telemetry", level="ERROR"}[1h])) / sum(count_over_time({service="claude-telemetry", hook_event=~"PostToolUse.*"}[1h]))',
    metric: true,
  },
];

const spec = {
  name: 'examples',
  summary: "LogQL queries worth knowing (the seed's included), with curl forms; --run tries them here.",
  usage: 'examples [--run] [--json]',
  options: { run: { type: 'boolean' }, json: { type: 'boolean' } },
  help: [
    '--run                 run each query on the local store (last 24 h) and show how much it finds',
    '--json                machine-readable list (with results when --run)',
  ],
  examples: ['claude-telemetry examples', 'claude-telemetry examples --run'],
} satisfies CommandSpec<Options>;

function zipResults(list: Example[], results: string[]) {
  return list.map((e, i) => ({ ...e, result: results[i] ?? '' }));
}

function curl(apiUrl: string, e: Example): string {
  const path = e.metric ? 'query' : 'query_range';
  return `curl -G "${apiUrl}/loki/api/v1/${path}" --data-urlencode '${e.query.replaceAll("'", "'\\''")}'`;
}

export const examples: Command = {
  spec,
  async run(argv) {
    const { values } = parse(spec, argv);
    const paths = dataPaths();
    const server = loadConfig(paths).server;
    const apiUrl = `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
    const results = values.run
      ? zipResults(EXAMPLES, runQuietly(EXAMPLES.map((e) => ({ query: e.query, metric: e.metric === true }))))
      : EXAMPLES;
    if (values.json) {
      printJson(results.map((e) => ({ ...e, curl: curl(apiUrl, e) })));
      return 0;
    }
    for (const e of results) {
      println(`# ${e.title}${e.note ? ` (${e.note})` : ''}`);
      println(`claude-telemetry query '${e.query}'${e.metric ? ' --instant' : ''}`);
      println(curl(apiUrl, e));
      if ('result' in e) println(`=> ${e.result}`);
      println();
    }
    return 0;
  },
};
