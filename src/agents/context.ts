/**
 * The seed's multi-agent schema on events: agent_context, session_context, project_context and correlation,
 * derived while events are normalized from what really says something about agents:
 *
 *  - `agent_id` / `agent_type` on every event fired inside a subagent (SubagentStart/Stop included);
 *  - the Agent (old name Task) tool call that launches a subagent (its type, background flag, and the
 *    subagent id in the response), matched to the next SubagentStart of that type as `tree` does;
 *  - SessionStart with source resume, fork or compact;
 *  - CLAUDE_TELEMETRY_AGENT_ID / _GROUP / _ROLE / _WORKFLOW_ID, which the hook carries (CT2 header) for agents
 *    of a fleet started separately;
 *  - the agent registry (`agents.yaml`, see registry.ts) for what the events cannot say.
 *
 * An event with none of these (and whose session never delegated) keeps the seed's base schema: no field is
 * added. Cost: one Map lookup for such events; the others build a few small objects from in-memory state
 * (per session: who launched whom, which subagents run; per workflow: which fleet agents were seen lately).
 * No file is read per event; the registry's mtime is checked at most once a second.
 */
import type {
  AgentContext,
  Correlation,
  FleetEnv,
  ProjectContext,
  SessionContext,
  SpoolRecord,
  TelemetryEvent,
} from '../types.ts';
import { EMPTY_REGISTRY, type Registry, roleOf } from './registry.ts';

/** A launch of a subagent by an Agent/Task call. */
interface Launch {
  toolUseId: string;
  /** Agent id of the caller ('' = the session's top agent). */
  from: string;
  type: string | undefined;
  background: boolean;
}

interface SessionState {
  /** Subagent id -> the launch that created it. */
  parent: Map<string, Launch>;
  /** Launches whose subagent is not known yet, oldest first. */
  pending: Launch[];
  /** Subagents started and not stopped. */
  running: Set<string>;
  /** Agents ('' = top) that launched a subagent. */
  delegators: Set<string>;
  /** Two subagents ran at once, or one was launched in the background. */
  parallel: boolean;
  fleet: FleetEnv | undefined;
}

const CONTINUED = new Set(['resume', 'fork', 'compact']);
const MAX_PENDING = 64;
const MAX_DEPTH = 16;
const MAX_RELATED = 32;
/** Fleet agents count as related when seen in the same workflow within this window. */
const RELATED_WINDOW_MS = 15 * 60_000;

export interface AgentContextOptions {
  /** The registry in force (called per event with a signal; RegistryWatcher.current is cheap). */
  registry?: () => Registry;
  /** Sessions remembered (oldest forgotten first). */
  maxSessions?: number;
}

export class AgentContextDeriver {
  private readonly sessions = new Map<string, SessionState>();
  /** workflow id -> fleet agent id -> last seen (ms). */
  private readonly workflows = new Map<string, Map<string, number>>();
  private readonly registry: () => Registry;
  private readonly maxSessions: number;

  constructor(opts: AgentContextOptions = {}) {
    this.registry = opts.registry ?? (() => EMPTY_REGISTRY);
    this.maxSessions = opts.maxSessions ?? 20_000;
  }

  /** Adds the agent fields to `ev` when it carries an agent signal. */
  apply(ev: TelemetryEvent, rec: Pick<SpoolRecord, 'fleet' | 'mtimeMs'>): void {
    const hook = ev.hook_event;
    const tool = ev.tool_name;
    const sub = ev.agent_id;
    const fleet = rec.fleet;
    const launchCall = tool === 'Agent' || tool === 'Task';
    let s = this.sessions.get(ev.session_id);
    if (s === undefined) {
      const continued = hook === 'SessionStart' && CONTINUED.has(ev.action_details.source as string);
      if (
        fleet === undefined &&
        sub === undefined &&
        !launchCall &&
        !continued &&
        hook !== 'SubagentStart' &&
        hook !== 'SubagentStop'
      )
        return;
      if (continued && fleet === undefined && sub === undefined) {
        // A resumed, forked or compacted single agent: the SessionStart itself says so, nothing else changes.
        this.decorate(ev, undefined, undefined, rec.mtimeMs);
        return;
      }
      s = this.session(ev.session_id);
    }
    if (fleet !== undefined) s.fleet = fleet;
    this.track(s, ev, sub ?? '', launchCall);
    this.decorate(ev, s, sub, rec.mtimeMs);
    if (hook === 'SubagentStop' && sub !== undefined) s.running.delete(sub);
  }

  private session(id: string): SessionState {
    const s: SessionState = {
      parent: new Map(),
      pending: [],
      running: new Set(),
      delegators: new Set(),
      parallel: false,
      fleet: undefined,
    };
    if (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(id, s);
    return s;
  }

  /** Updates who launched whom from this event. */
  private track(s: SessionState, ev: TelemetryEvent, self: string, launchCall: boolean): void {
    const d = ev.action_details;
    const hook = ev.hook_event;
    if (launchCall && ev.tool_use_id !== undefined) {
      if (hook === 'PreToolUse') {
        if (s.pending.some((l) => l.toolUseId === ev.tool_use_id)) return;
        const launch: Launch = {
          toolUseId: ev.tool_use_id,
          from: self,
          type: typeof d.subagent_type === 'string' ? d.subagent_type : undefined,
          background: d.run_in_background === true,
        };
        if (s.pending.length >= MAX_PENDING) s.pending.shift();
        s.pending.push(launch);
        s.delegators.add(self);
        if (launch.background) s.parallel = true;
      } else if (hook === 'PostToolUse' || hook === 'PostToolUseFailure') {
        const child = typeof d.subagent_id === 'string' ? d.subagent_id : undefined;
        if (d.subagent_status === 'async_launched') s.parallel = true;
        const i = s.pending.findIndex((l) => l.toolUseId === ev.tool_use_id);
        if (i >= 0 && child !== undefined && !s.parent.has(child)) {
          const launch = s.pending.splice(i, 1)[0] as Launch;
          if (d.subagent_status === 'async_launched') launch.background = true;
          s.parent.set(child, launch);
        }
      }
      return;
    }
    if (hook === 'SubagentStart' && self !== '') {
      if (!s.parent.has(self)) {
        const i = s.pending.findIndex((l) => l.type === undefined || l.type === ev.agent_type);
        if (i >= 0) s.parent.set(self, s.pending.splice(i, 1)[0] as Launch);
      }
      s.running.add(self);
      if (s.running.size > 1) s.parallel = true;
    }
  }

  private decorate(
    ev: TelemetryEvent,
    s: SessionState | undefined,
    sub: string | undefined,
    now: number,
  ): void {
    const reg = this.registry();
    const fleet = s?.fleet;
    const top = fleet?.agent_id ?? 'main';
    const topEntry = fleet?.agent_id !== undefined ? reg.agents.get(fleet.agent_id) : undefined;
    const launch = sub !== undefined ? s?.parent.get(sub) : undefined;
    const entry =
      sub === undefined
        ? topEntry
        : (reg.agents.get(sub) ?? (ev.agent_type !== undefined ? reg.agents.get(ev.agent_type) : undefined));

    // agent_context
    const agentType = ev.agent_type ?? launch?.type ?? entry?.agent_type ?? 'claude-code';
    const group =
      sub === undefined
        ? (fleet?.agent_group ?? entry?.group)
        : (entry?.group ?? fleet?.agent_group ?? topEntry?.group);
    const self = sub ?? '';
    const role =
      sub === undefined
        ? (fleet?.agent_role ?? roleOf(entry) ?? (s?.delegators.has('') ? 'coordinator' : 'primary'))
        : (roleOf(entry) ?? (s?.delegators.has(self) ? 'coordinator' : 'secondary'));
    const agent: AgentContext = {
      agent_id: sub ?? top,
      agent_type: agentType,
      ...(group !== undefined ? { agent_group: group } : {}),
      agent_role: role,
      instance_id: fleet?.agent_id ?? ev.session_id,
    };

    // session_context
    const hierarchy = s !== undefined && sub !== undefined ? this.chain(s, sub, top) : [top];
    const mode =
      topEntry?.coordination ??
      (s === undefined
        ? undefined
        : s.parallel
          ? 'parallel'
          : s.delegators.size > 0
            ? 'sequential'
            : fleet !== undefined
              ? 'independent'
              : undefined);
    const source = ev.action_details.source;
    const session: SessionContext = {
      session_id: ev.session_id,
      session_hierarchy: hierarchy,
      ...(mode !== undefined ? { coordination_mode: mode } : {}),
      coordination_level: hierarchy.length - 1,
      ...(ev.hook_event === 'SessionStart' && typeof source === 'string' && CONTINUED.has(source)
        ? { continued_by: source }
        : {}),
    };

    // project_context
    const projectGroup = topEntry?.project_group ?? reg.projectGroup.get(ev.project_name);
    const workspace = topEntry?.workspace_id ?? reg.workspace_id;

    // correlation
    const workflow =
      fleet?.workflow_id ??
      topEntry?.workflow_id ??
      (s !== undefined && s.delegators.size > 0 ? ev.session_id : undefined);
    const related = s !== undefined ? this.related(s, self, top, fleet, workflow, now) : [];
    const correlation: Correlation = {
      ...(related.length > 0 ? { related_agents: related } : {}),
      ...(workflow !== undefined ? { workflow_id: workflow } : {}),
    };
    if (sub !== undefined && s !== undefined) {
      correlation.task_delegation = {
        delegated_from: launch === undefined || launch.from === '' ? top : launch.from,
        delegation_type: launch?.background || s.parallel ? 'parallel' : 'sequential',
        ...((launch?.type ?? ev.agent_type) ? { task_type: (launch?.type ?? ev.agent_type) as string } : {}),
      };
    }

    ev.agent_context = agent;
    ev.session_context = session;
    if (projectGroup !== undefined || workspace !== undefined) {
      const project: ProjectContext = {};
      if (projectGroup !== undefined) project.project_group = projectGroup;
      if (workspace !== undefined) project.workspace_id = workspace;
      ev.project_context = project;
    }
    if (Object.keys(correlation).length > 0) ev.correlation = correlation;
  }

  /** [top, ..., parent, sub]: the launch chain down to `sub`. */
  private chain(s: SessionState, sub: string, top: string): string[] {
    const ids = [sub];
    let cur = s.parent.get(sub)?.from;
    while (cur !== undefined && cur !== '' && ids.length < MAX_DEPTH && !ids.includes(cur)) {
      ids.unshift(cur);
      cur = s.parent.get(cur)?.from;
    }
    ids.unshift(top);
    return ids;
  }

  /** Other agents working with this one: the session's top and running subagents, fleet agents of the workflow. */
  private related(
    s: SessionState,
    self: string,
    top: string,
    fleet: FleetEnv | undefined,
    workflow: string | undefined,
    now: number,
  ): string[] {
    const out = new Set<string>();
    if (self !== '' || s.running.size > 0) {
      if (self !== '') out.add(top);
      for (const r of s.running) if (r !== self) out.add(r);
    }
    if (fleet?.agent_id !== undefined && workflow !== undefined) {
      let seen = this.workflows.get(workflow);
      if (seen === undefined) {
        seen = new Map();
        this.workflows.set(workflow, seen);
        if (this.workflows.size > this.maxSessions) {
          const oldest = this.workflows.keys().next().value;
          if (oldest !== undefined) this.workflows.delete(oldest);
        }
      }
      seen.set(fleet.agent_id, now);
      for (const [agent, at] of seen) {
        if (now - at > RELATED_WINDOW_MS) seen.delete(agent);
        else if (agent !== fleet.agent_id || self !== '') out.add(agent);
      }
    }
    out.delete(self === '' ? top : self);
    return out.size === 0 ? [] : [...out].sort().slice(0, MAX_RELATED);
  }
}

const byContext = new WeakMap<object, AgentContextDeriver>();

/** The deriver used for events normalized with `ctx` (set by the collector, with its registry). */
export function attachAgentContext(ctx: object, deriver: AgentContextDeriver): void {
  byContext.set(ctx, deriver);
}

/**
 * Adds the agent fields to a freshly normalized event (see the module comment). Never throws: a failure here
 * leaves the event in its base schema.
 */
export function applyAgentContext(ev: TelemetryEvent, rec: SpoolRecord, ctx: object): void {
  let d = byContext.get(ctx);
  if (d === undefined) {
    d = new AgentContextDeriver();
    byContext.set(ctx, d);
  }
  try {
    d.apply(ev, rec);
  } catch {
    // the base schema stands
  }
}
