/**
 * The fleet commands. What they run on (config, store, the fleet queries) is imported when one runs: printing a
 * command's help loads none of it.
 */
import type { FleetAgent, FleetAnswer, FleetConflict, FleetSource } from '../agents/federated.ts';
import type { TreeNode } from '../agents/fleet.ts';
import { dataPaths } from '../config/paths.ts';
import type { Federation } from '../query/federation.ts';
import { type CommandSpec, type Options, parse, parseTime, UsageError } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';
import { shortTime, table } from './format.ts';

type Fmt = Pick<typeof import('./cost.ts'), 'fmtCost' | 'fmtTokens'>;

/** The fleet queries and the token and cost formats. */
async function fleetModules() {
  const [federated, fleet, fmt] = await Promise.all([
    import('../agents/federated.ts'),
    import('../agents/fleet.ts'),
    import('./cost.ts'),
  ]);
  return { ...federated, ...fleet, fmt: fmt as Fmt };
}

/**
 * The store and the price table, for the fleet commands, and the federation peers to merge with (none with
 * `local`, or when config.yaml lists no federation instances).
 */
export async function openFleet(local = true): Promise<FleetSource & { peers?: Federation }> {
  const [{ loadConfig }, { Store }, { Pricing }] = await Promise.all([
    import('../config/config.ts'),
    import('../store/index.ts'),
    import('../usage/pricing.ts'),
  ]);
  const paths = dataPaths();
  const config = loadConfig(paths);
  const src = { store: Store.open(paths.storeFile), pricing: new Pricing(config.pricing) };
  if (local || config.federation.instances.length === 0) return src;
  // Loaded only with peers: the federation module brings the LogQL parser along.
  const { Federation } = await import('../query/federation.ts');
  return { ...src, peers: new Federation(config.federation) };
}

/**
 * Prints the merged answer as JSON (an object with the instance reports, where a local answer is a plain
 * list) or hands the rows to `print`; names failed peers on stderr. Exit code 1 when one failed.
 */
function report<T>(
  r: FleetAnswer<T>,
  merged: boolean,
  json: boolean | undefined,
  key: string,
  print: (rows: T[]) => void,
): number {
  if (json) printJson(merged ? { [key]: r.rows, instances: r.instances, partial: r.partial } : r.rows);
  else print(r.rows);
  if (merged && !json) {
    for (const i of r.instances) {
      if (!i.ok) out.error(`instance ${i.name}: FAILED: ${i.error ?? 'no answer'}\n`);
      else if (i.note) out.error(`instance ${i.name}: ${i.note}\n`);
    }
    if (r.partial) out.error(`partial: ${key} of the instances above that failed are missing\n`);
  }
  return r.partial ? 1 : 0;
}

const LOCAL_HELP = '--local               this collector only (default: merged with federation.instances)';

export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`;
}

const agentsSpec = {
  name: 'agents',
  summary: 'Agents seen (main agents and subagents): events, tools, errors, duration, tokens, cost.',
  usage: 'agents [--since T] [--local] [--json]',
  options: { since: { type: 'string' }, local: { type: 'boolean' }, json: { type: 'boolean' } },
  help: [
    '--since T             agents active since 15m, 2h, 7d or an ISO time',
    LOCAL_HELP,
    '--json                JSON array; merged: {agents, instances, partial}',
  ],
} satisfies CommandSpec<Options>;

export const agents: Command = {
  spec: agentsSpec,
  async run(argv) {
    const { values } = parse(agentsSpec, argv);
    const since = values.since !== undefined ? { since: parseTime(values.since, '--since') } : {};
    const { fleetAgents, fmt } = await fleetModules();
    const { peers, ...src } = await openFleet(values.local === true);
    try {
      const r = await fleetAgents(src, peers, since);
      return report(r, peers !== undefined, values.json, 'agents', (list) => {
        if (list.length === 0) println('no agents seen yet');
        else println(agentsTable(list, peers !== undefined, fmt));
      });
    } finally {
      src.store.close();
    }
  },
};

function agentsTable(list: FleetAgent[], merged: boolean, { fmtCost, fmtTokens }: Fmt): string {
  return table(
    [
      ...(merged ? ['instance'] : []),
      'session',
      'agent',
      'type',
      'group',
      'role',
      'host',
      'project',
      'events',
      'tools',
      'errors',
      'duration',
      'tokens',
      'cost',
      'last',
    ],
    list.map((a) => [
      ...(merged ? [a.instance] : []),
      a.session_id.slice(0, 8),
      a.agent_id || a.fleet_id || 'main',
      a.agent_type ?? '',
      a.agent_group ?? '',
      a.agent_role ?? '',
      a.host ?? '',
      a.project_name ?? '',
      String(a.events),
      String(a.tool_calls),
      String(a.errors),
      fmtDuration(a.duration_ms),
      fmtTokens(a.usage.input + a.usage.output + a.usage.cacheCreation + a.usage.cacheRead),
      fmtCost(a.usage),
      a.last_ts !== null ? shortTime(a.last_ts) : '',
    ]),
    40,
  );
}

const treeSpec = {
  name: 'tree',
  summary:
    'The delegation tree of a session: parent -> subagents with duration, tools, tokens, cost, outcome.',
  usage: 'tree <session> [--json]',
  options: { json: { type: 'boolean' } },
  positionals: true,
  help: ['--json                the tree as JSON'],
  examples: ['claude-telemetry tree 2a8611e7'],
} satisfies CommandSpec<Options>;

function treeLines(
  n: TreeNode,
  prefix: string,
  last: boolean,
  top: boolean,
  lines: string[],
  fmt: Fmt,
): void {
  const { fmtCost, fmtTokens } = fmt;
  const tools = Object.entries(n.tools)
    .sort((a, b) => b[1] - a[1])
    .map(([t, c]) => `${t}×${c}`)
    .join(' ');
  const tokens = n.usage.input + n.usage.output + n.usage.cacheCreation + n.usage.cacheRead;
  const head = `${n.agent_id === '' ? 'main' : n.agent_id}${n.agent_type ? ` (${n.agent_type})` : ''}`;
  const via = n.delegation
    ? `  via ${n.delegation.tool_use_id}${n.delegation.background ? ' background' : ''}${n.delegation.description ? ` "${n.delegation.description}"` : ''}`
    : '';
  const facts = `${n.outcome}, ${fmtDuration(n.duration_ms)}, ${n.tool_calls} tool calls${tools ? ` [${tools}]` : ''}, ${n.errors} errors, ${fmtTokens(tokens)} tokens, ${fmtCost(n.usage)}`;
  lines.push(`${top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${head}: ${facts}${via}`);
  const next = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
  n.children.forEach((c, i) => {
    treeLines(c, next, i === n.children.length - 1, false, lines, fmt);
  });
}

export const tree: Command = {
  spec: treeSpec,
  async run(argv) {
    const { values, positionals } = parse(treeSpec, argv);
    const given = positionals[0];
    if (given === undefined || positionals.length > 1) throw new UsageError('tree: give one session id');
    const { sessionTree, fmt } = await fleetModules();
    const { fmtCost, fmtTokens } = fmt;
    const { store, pricing } = await openFleet();
    try {
      const r = store.resolveSession(given);
      if (r.ambiguous) throw new UsageError(`tree: "${given}" matches more than one session`);
      const t = sessionTree(store, pricing, r.id ?? given);
      if (!t) {
        println(`no session ${given}`);
        return 1;
      }
      if (values.json) {
        printJson(t);
        return 0;
      }
      println(
        `session ${t.session_id}${t.project_name ? ` (${t.project_name})` : ''}${t.source ? `, started by ${t.source}` : ''}: ${t.agents} agents, ${fmtTokens(t.total.input + t.total.output + t.total.cacheCreation + t.total.cacheRead)} tokens, ${fmtCost(t.total)}`,
      );
      const lines: string[] = [];
      treeLines(t.root, '', true, true, lines, fmt);
      for (const l of lines) println(l);
      return 0;
    } finally {
      store.close();
    }
  },
};

const conflictsSpec = {
  name: 'conflicts',
  summary: 'Files two agents wrote within a window, or that one read while another was writing it.',
  usage: 'conflicts [--since T] [--window D] [--local] [--json]',
  options: {
    since: { type: 'string' },
    window: { type: 'string' },
    local: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  help: [
    '--since T             accesses since 15m, 2h, 7d or an ISO time (default: all)',
    '--window D            how close two accesses must be: 30s, 5m... (default 60s)',
    LOCAL_HELP,
    '--json                JSON array; merged: {conflicts, instances, partial}',
  ],
} satisfies CommandSpec<Options>;

export const conflicts: Command = {
  spec: conflictsSpec,
  async run(argv) {
    const { values } = parse(conflictsSpec, argv);
    let windowMs = 60_000;
    if (values.window !== undefined) {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(values.window.trim());
      if (!m) throw new UsageError('--window: use a duration like 500ms, 30s, 5m');
      windowMs =
        Number(m[1]) *
        ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as Record<string, number>)[m[2] as string]!;
    }
    const { fleetConflicts } = await fleetModules();
    const { peers, ...src } = await openFleet(values.local === true);
    try {
      const r = await fleetConflicts(src, peers, {
        windowMs,
        ...(values.since !== undefined ? { since: parseTime(values.since, '--since') } : {}),
      });
      return report(r, peers !== undefined, values.json, 'conflicts', (found) => {
        if (found.length === 0) println('no conflicts');
        else println(conflictsTable(found, peers !== undefined));
      });
    } finally {
      src.store.close();
    }
  },
};

function conflictsTable(found: FleetConflict[], merged: boolean): string {
  const who = (s: { session_id: string; agent_id: string; tool: string }) =>
    `${s.session_id.slice(0, 8)}/${s.agent_id || 'main'} ${s.tool}`;
  return table(
    [...(merged ? ['instance'] : []), 'time', 'kind', 'file', 'first', 'second', 'gap'],
    found.map((c) => [
      ...(merged ? [c.instance] : []),
      shortTime(c.second.ts),
      c.kind,
      c.file_path,
      who(c.first),
      who(c.second),
      fmtDuration(c.gap_ms),
    ]),
    70,
  );
}
