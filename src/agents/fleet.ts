/**
 * Agents and their hierarchy, derived from stored events and transcript usage.
 *
 * An agent is a (session, agent id) pair: the main agent of a session has no agent id, a subagent has the
 * `agent_id` Claude Code puts on every event inside it (SubagentStart/Stop included). A subagent's parent is
 * the agent whose Agent (old name Task) tool call launched it: the call's PostToolUse carries the subagent's
 * id (`agentId` in the tool response, `subagent_id` in our details); a call with no response yet (running,
 * or a background launch still pending) is matched to the next SubagentStart of the requested type.
 * Tokens and cost come from the usage table (transcripts).
 */
import type { Store } from '../store/index.ts';
import type { Pricing } from '../usage/pricing.ts';
import { emptySum, type UsageSum, usageByAgent } from '../usage/report.ts';
import { ConflictWatch, type FileAccess, type FileConflict, READ_TOOLS, WRITE_TOOLS } from './conflicts.ts';

export interface AgentSummary {
  session_id: string;
  /** '' for a session's main agent. */
  agent_id: string;
  agent_type: string | null;
  project_name: string | null;
  events: number;
  tool_calls: number;
  errors: number;
  /** ms since epoch; null for an agent known from transcripts only. */
  first_ts: number | null;
  last_ts: number | null;
  duration_ms: number;
  usage: UsageSum;
  /** Machine the events came from (metadata.host); null for an agent known from transcripts only. */
  host: string | null;
  /** From the agent fields of its latest event (CLAUDE_TELEMETRY_AGENT_* or the registry), when it has them. */
  fleet_id?: string;
  agent_group?: string;
  agent_role?: string;
  workflow_id?: string;
}

type AgentRow = Pick<AgentSummary, 'session_id' | 'agent_id' | 'events' | 'tool_calls' | 'errors'> & {
  first_ts: number;
  last_ts: number;
};

/**
 * What the latest event of an agent says: its host, type and project (columns outside the summary's index, so
 * not read for every row), and its fleet identity from the agent fields (every event of a fleet agent or a
 * subagent carries them). One seek per agent, on events_session_ts.
 */
function fleetIdentity(
  store: Store,
): (session: string, agent: string, lastTs: number) => Partial<AgentSummary> {
  const q = store.select(
    `SELECT host, agent_type, project_name, json_extract(line, '$.agent_context') AS a,
       json_extract(line, '$.correlation.workflow_id') AS w
     FROM events INDEXED BY events_session_ts WHERE session_id = ? AND ts = ? AND agent_id IS ? LIMIT 1`,
  );
  return (session, agent, lastTs) => {
    const r = q.get(session, lastTs, agent === '' ? null : agent) as
      | {
          host: string | null;
          agent_type: string | null;
          project_name: string | null;
          a: string | null;
          w: string | null;
        }
      | undefined;
    const row = {
      host: r?.host ?? null,
      project_name: r?.project_name ?? null,
      ...(r?.agent_type ? { agent_type: r.agent_type } : {}),
    };
    if (r?.a == null) return row;
    const a = JSON.parse(r.a) as {
      agent_id?: string;
      agent_group?: string;
      agent_role?: string;
      instance_id?: string;
    };
    return {
      ...row,
      // A fleet agent is named by its instance (CLAUDE_TELEMETRY_AGENT_ID); a plain session's is its session id.
      ...(a.instance_id !== undefined && a.instance_id !== session ? { fleet_id: a.instance_id } : {}),
      ...(a.agent_group !== undefined ? { agent_group: a.agent_group } : {}),
      ...(a.agent_role !== undefined ? { agent_role: a.agent_role } : {}),
      ...(r.w !== null ? { workflow_id: r.w } : {}),
    };
  };
}

/**
 * The per-agent counts, one session at a time: the sessions active since `since` from their summary table,
 * then each session's events from events_session_ts, which holds every column the counts need, so neither a
 * row lookup per event nor a sort of the whole store (1M events: about 0.45 s, where reading the rows took
 * 1.5-2 s). A window costs what it holds: sessions idle since then are not read, long ones from `since` on.
 */
function agentCounts(store: Store, since: number): AgentRow[] {
  const sessions = store
    .select(`SELECT session_id FROM sessions WHERE last_ts >= ? AND session_id != ''`)
    .all(since) as { session_id: string }[];
  const perSession = store.select(
    `SELECT agent_id, count(*) AS events, sum(hook_event = 'PreToolUse') AS tool_calls,
       sum(level = 'ERROR' OR success = 0) AS errors, min(ts) AS first_ts, max(ts) AS last_ts
     FROM events INDEXED BY events_session_ts WHERE session_id = ? AND ts >= ? GROUP BY agent_id`,
  );
  const out: AgentRow[] = [];
  for (const { session_id } of sessions) {
    let main: AgentRow | undefined;
    for (const r of perSession.all(session_id, since) as (AgentRow & { agent_id: string | null })[]) {
      const row = { ...r, session_id, agent_id: r.agent_id ?? '' };
      // A main agent is stored with no agent id; should an empty one turn up too, the two are one agent.
      if (row.agent_id !== '') out.push(row);
      else if (!main) {
        main = row;
        out.push(row);
      } else {
        main.events += row.events;
        main.tool_calls += row.tool_calls;
        main.errors += row.errors;
        main.first_ts = Math.min(main.first_ts, row.first_ts);
        main.last_ts = Math.max(main.last_ts, row.last_ts);
      }
    }
  }
  return out;
}

/** Every agent with events (or usage) since `since` (ms), most recently active first. */
export function listAgents(store: Store, pricing: Pricing, opts: { since?: number } = {}): AgentSummary[] {
  const rows = agentCounts(store, opts.since ?? 0);
  const usage = usageByAgent(store, pricing);
  const identity = fleetIdentity(store);
  const out: AgentSummary[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.session_id}/${r.agent_id}`;
    seen.add(key);
    const u = usage.get(key);
    const id = identity(r.session_id, r.agent_id, r.last_ts);
    out.push({
      ...r,
      ...id,
      agent_type: id.agent_type ?? u?.agent_type ?? null,
      project_name: id.project_name ?? null,
      host: id.host ?? null,
      duration_ms: r.last_ts - r.first_ts,
      usage: u ?? emptySum(),
    });
  }
  if (opts.since === undefined) {
    for (const [key, u] of usage) {
      if (seen.has(key)) continue;
      const cut = key.lastIndexOf('/');
      out.push({
        session_id: key.slice(0, cut),
        agent_id: key.slice(cut + 1),
        agent_type: u.agent_type,
        project_name: null,
        events: 0,
        tool_calls: 0,
        errors: 0,
        first_ts: null,
        last_ts: null,
        duration_ms: 0,
        usage: u,
        host: null,
      });
    }
  }
  return out.sort((a, b) => (b.last_ts ?? 0) - (a.last_ts ?? 0));
}

export interface TreeNode {
  /** '' for the main agent. */
  agent_id: string;
  agent_type: string | null;
  /** The Agent/Task call that launched it (absent for the main agent). */
  delegation?: {
    tool_use_id: string;
    /** Agent id of the caller ('' = main). */
    delegated_from: string;
    description?: string;
    background: boolean;
    model?: string;
  };
  first_ts: number | null;
  last_ts: number | null;
  duration_ms: number;
  events: number;
  /** PreToolUse count per tool name. */
  tools: Record<string, number>;
  tool_calls: number;
  errors: number;
  /** completed | failed | async_launched | running | ended | stopped | active */
  outcome: string;
  usage: UsageSum;
  children: TreeNode[];
}

export interface SessionTree {
  session_id: string;
  project_name: string | null;
  /** Machine the session ran on (metadata.host of its events). */
  host: string | null;
  /** SessionStart source (startup, resume, clear, compact, fork), when seen. */
  source?: string;
  root: TreeNode;
  /** Sums over the whole tree. */
  total: UsageSum;
  agents: number;
}

interface Ev {
  ts: number;
  hook_event: string | null;
  tool_name: string | null;
  tool_use_id: string | null;
  agent_id: string | null;
  agent_type: string | null;
  level: string | null;
  success: number | null;
  project_name: string | null;
  host: string | null;
  d: string | null;
}

/** The delegation tree of one session. */
export function sessionTree(store: Store, pricing: Pricing, sessionId: string): SessionTree | undefined {
  const evs = store
    .select(
      `SELECT ts, hook_event, tool_name, tool_use_id, agent_id, agent_type, level, success, project_name, host,
         CASE WHEN tool_name IN ('Agent', 'Task') OR hook_event IN ('SessionStart', 'SessionEnd', 'PostToolUse')
           THEN json_extract(line, '$.action_details') END AS d
       FROM events WHERE session_id = ? ORDER BY ts, seq`,
    )
    .all(sessionId) as Ev[];
  const usage = usageByAgent(store, pricing, sessionId);
  if (evs.length === 0 && usage.size === 0) return undefined;
  const nodes = new Map<string, TreeNode>();
  const node = (id: string): TreeNode => {
    let n = nodes.get(id);
    if (!n) {
      n = {
        agent_id: id,
        agent_type: null,
        first_ts: null,
        last_ts: null,
        duration_ms: 0,
        events: 0,
        tools: {},
        tool_calls: 0,
        errors: 0,
        outcome: id === '' ? 'active' : 'running',
        usage: emptySum(),
        children: [],
      };
      nodes.set(id, n);
    }
    return n;
  };
  const tree: SessionTree = {
    session_id: sessionId,
    project_name: null,
    host: null,
    root: node(''),
    total: emptySum(),
    agents: 0,
  };
  /** Agent calls by tool_use_id, and those still waiting for their subagent's id. */
  const calls = new Map<string, NonNullable<TreeNode['delegation']> & { type?: string; child?: string }>();
  const pending: string[] = [];
  const parentOf = new Map<string, string>();
  for (const e of evs) {
    const id = e.agent_id ?? '';
    const n = node(id);
    n.events++;
    if (n.first_ts === null) n.first_ts = e.ts;
    n.last_ts = e.ts;
    if (e.agent_type && !n.agent_type) n.agent_type = e.agent_type;
    if (tree.project_name === null && e.project_name) tree.project_name = e.project_name;
    if (tree.host === null && e.host) tree.host = e.host;
    if (e.level === 'ERROR' || e.success === 0) n.errors++;
    const d = e.d !== null ? (JSON.parse(e.d) as Record<string, unknown>) : {};
    const hook = e.hook_event;
    if (hook === 'PreToolUse' && e.tool_name) {
      n.tools[e.tool_name] = (n.tools[e.tool_name] ?? 0) + 1;
      n.tool_calls++;
    }
    if (hook === 'SessionStart' && tree.source === undefined && typeof d.source === 'string')
      tree.source = d.source;
    if (hook === 'SessionEnd' && id === '') n.outcome = 'ended';
    if (hook === 'Stop' && id === '' && n.outcome === 'active') n.outcome = 'stopped';
    if (hook === 'UserPromptSubmit' && id === '') n.outcome = 'active';
    if (hook === 'SubagentStart' && id !== '') {
      // Match a launch that has no subagent id yet, of the same type when the type is known.
      if (!parentOf.has(id)) {
        const i = pending.findIndex((t) => {
          const c = calls.get(t);
          return c !== undefined && (c.type === undefined || c.type === e.agent_type);
        });
        if (i >= 0) link(pending.splice(i, 1)[0] as string, id);
      }
    }
    // A background launch reports async_launched first; its SubagentStop, later, is the end of the work.
    if (hook === 'SubagentStop' && id !== '' && (n.outcome === 'running' || n.outcome === 'async_launched'))
      n.outcome = 'completed';
    if ((e.tool_name === 'Agent' || e.tool_name === 'Task') && e.tool_use_id) {
      if (hook === 'PreToolUse' && !calls.has(e.tool_use_id)) {
        calls.set(e.tool_use_id, {
          tool_use_id: e.tool_use_id,
          delegated_from: id,
          background: d.run_in_background === true,
          ...(typeof d.description === 'string' ? { description: d.description } : {}),
          ...(typeof d.model === 'string' ? { model: d.model } : {}),
          ...(typeof d.subagent_type === 'string' ? { type: d.subagent_type } : {}),
        });
        pending.push(e.tool_use_id);
      } else if (hook === 'PostToolUse' || hook === 'PostToolUseFailure') {
        const child = typeof d.subagent_id === 'string' ? d.subagent_id : undefined;
        const c = calls.get(e.tool_use_id);
        if (child !== undefined && c !== undefined && c.child === undefined) {
          const i = pending.indexOf(e.tool_use_id);
          if (i >= 0) pending.splice(i, 1);
          link(e.tool_use_id, child);
        }
        const target = c?.child !== undefined ? node(c.child) : undefined;
        if (target) {
          if (hook === 'PostToolUseFailure') target.outcome = 'failed';
          else if (typeof d.subagent_status === 'string') {
            if (d.subagent_status === 'async_launched') {
              if (c) c.background = true;
              // Unless its SubagentStop already came (the Post of a launch can be stored after it).
              if (target.outcome === 'running') target.outcome = 'async_launched';
            } else target.outcome = d.subagent_status;
          }
        }
      }
    }
  }
  function link(toolUseId: string, child: string): void {
    const c = calls.get(toolUseId);
    if (!c || parentOf.has(child) || child === c.delegated_from) return;
    c.child = child;
    parentOf.set(child, c.delegated_from);
    const n = node(child);
    const { type, child: _c, ...delegation } = c;
    n.delegation = delegation;
    if (!n.agent_type && type) n.agent_type = type;
  }
  for (const [key, u] of usage) {
    const id = key.slice(key.lastIndexOf('/') + 1);
    const n = node(id);
    n.usage = u;
    if (!n.agent_type && u.agent_type) n.agent_type = u.agent_type;
    for (const m of u.unpriced) if (!tree.total.unpriced.includes(m)) tree.total.unpriced.push(m);
    tree.total.messages += u.messages;
    tree.total.input += u.input;
    tree.total.output += u.output;
    tree.total.cacheCreation += u.cacheCreation;
    tree.total.cacheCreation1h += u.cacheCreation1h;
    tree.total.cacheRead += u.cacheRead;
    if (u.cost !== null) tree.total.cost = (tree.total.cost ?? 0) + u.cost;
  }
  for (const [id, n] of nodes) {
    n.duration_ms = n.first_ts !== null && n.last_ts !== null ? n.last_ts - n.first_ts : 0;
    if (id === '') continue;
    // A subagent whose launch was not seen hangs under the main agent.
    const parent = nodes.get(parentOf.get(id) ?? '') ?? tree.root;
    parent.children.push(n);
  }
  for (const n of nodes.values()) n.children.sort((a, b) => (a.first_ts ?? 0) - (b.first_ts ?? 0));
  tree.agents = nodes.size;
  return tree;
}

export type { ConflictSide, FileConflict } from './conflicts.ts';

/**
 * Files two agents touched within `windowMs` of each other where at least one wrote: two writers, or a
 * reader of what another agent was writing. Agents of different sessions count as different agents. The
 * collector raises the same findings as alerts while it ingests (ConflictAlerts).
 */
export function findConflicts(
  store: Store,
  opts: { since?: number; windowMs?: number } = {},
): FileConflict[] {
  const tools = [...WRITE_TOOLS, ...READ_TOOLS];
  const rows = store
    .select(
      `SELECT ts, session_id, COALESCE(agent_id, '') AS agent_id, tool_name, file_path FROM events
       WHERE tool_name IN (${tools.map(() => '?').join(', ')}) AND hook_event = 'PreToolUse' AND ts >= ?
         AND file_path IS NOT NULL
       ORDER BY ts, seq`,
    )
    .all(...tools, opts.since ?? 0) as FileAccess[];
  const watch = new ConflictWatch(opts.windowMs ?? 60_000, Number.POSITIVE_INFINITY);
  const out: FileConflict[] = [];
  for (const r of rows) out.push(...watch.observe(r));
  return out.sort((x, y) => x.second.ts - y.second.ts);
}
