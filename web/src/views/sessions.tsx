import { useState } from 'preact/hooks';
import {
  type LogLine,
  queryLogs,
  type SessionSummary,
  type SessionTree,
  sessions,
  sessionTree,
  type TreeNode,
} from '../api.ts';
import { Drawer, Panel, Table } from '../components.tsx';
import { q } from '../logql.ts';
import { eventSummary, fmtDuration, fmtTime, useAsync } from '../util.ts';
import type { ViewProps } from './overview.tsx';

/** One row of a timeline: an event, or a tool call whose Pre and Post (or failure) are paired. */
export interface TimelineRow {
  ts: number;
  kind: string;
  tool: string;
  summary: string;
  /** Pre -> Post, ms; absent when unpaired. */
  duration_ms: number | undefined;
  status: string;
  agent: string;
  /** '' for the session's main agent. */
  agent_id: string;
  tool_use_id: string;
  /** Nesting: 0 for the main agent, 1 for a subagent it launched, and so on. */
  depth: number;
  events: LogLine[];
}

const POST = new Set(['PostToolUse', 'PostToolUseFailure']);

/** Pairs Pre/Post by tool_use_id (in time order); other events stay single rows. */
export function timeline(lines: LogLine[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const open = new Map<string, TimelineRow>();
  for (const l of lines) {
    const e = l.event ?? {};
    const hook = String(e['hook_event'] ?? '');
    const id = typeof e['tool_use_id'] === 'string' ? e['tool_use_id'] : '';
    const agent = String(e['agent_type'] ?? e['agent_id'] ?? '');
    if (POST.has(hook) && id && open.has(id)) {
      const row = open.get(id) as TimelineRow;
      row.events.push(l);
      row.duration_ms = l.ts - row.ts;
      row.status = hook === 'PostToolUse' ? 'ok' : 'failed';
      open.delete(id);
      continue;
    }
    const row: TimelineRow = {
      ts: l.ts,
      kind: hook === 'PreToolUse' ? 'tool call' : hook,
      tool: String(e['tool_name'] ?? ''),
      summary: eventSummary(e),
      duration_ms: undefined,
      status: hook === 'PreToolUse' ? 'no Post' : String(e['level'] ?? ''),
      agent,
      agent_id: String(e['agent_id'] ?? ''),
      tool_use_id: id,
      depth: 0,
      events: [l],
    };
    if (hook === 'PreToolUse' && id) open.set(id, row);
    rows.push(row);
  }
  return rows;
}

/**
 * Orders the rows as the delegation tree (the server's, from the session's events): each subagent's rows
 * right under the Agent call that launched it, one level deeper; a subagent whose launch was not seen under
 * its parent where its first event falls.
 */
export function nestTimeline(rows: TimelineRow[], tree: SessionTree | undefined): TimelineRow[] {
  const byAgent = new Map<string, TimelineRow[]>();
  for (const r of rows) {
    const list = byAgent.get(r.agent_id);
    if (list) list.push(r);
    else byAgent.set(r.agent_id, [r]);
  }
  const out: TimelineRow[] = [];
  const done = new Set<string>();
  const emit = (node: TreeNode, depth: number) => {
    done.add(node.agent_id);
    const byCall = new Map<string, TreeNode[]>();
    const loose: TreeNode[] = [];
    for (const c of node.children) {
      const call = c.delegation?.tool_use_id;
      const launched = call ? byAgent.get(node.agent_id)?.some((r) => r.tool_use_id === call) : false;
      if (call && launched) byCall.set(call, [...(byCall.get(call) ?? []), c]);
      else loose.push(c);
    }
    for (const r of byAgent.get(node.agent_id) ?? []) {
      while (loose.length > 0 && (loose[0]?.first_ts ?? 0) < r.ts) emit(loose.shift() as TreeNode, depth + 1);
      out.push({ ...r, depth });
      for (const c of byCall.get(r.tool_use_id) ?? []) emit(c, depth + 1);
    }
    for (const c of loose) emit(c, depth + 1);
  };
  if (tree) emit(tree.root, 0);
  for (const r of rows) if (!done.has(r.agent_id)) out.push({ ...r, depth: r.agent_id ? 1 : 0 });
  return out;
}

function copy(text: string, done: (msg: string) => void): void {
  if (navigator.clipboard)
    navigator.clipboard.writeText(text).then(
      () => done('copied'),
      () => done(text),
    );
  else done(text);
}

export function Sessions(p: ViewProps & { open: string; setOpen: (id: string) => void }) {
  const { filters: f, start, end, tick } = p;
  const list = useAsync(() => sessions(start, end, f.project), [f.project, start, end, tick]);
  const chosen = list.data?.find((s) => s.session_id === p.open);
  // The session's own span when it is listed (a range query is bounded), else the selected range.
  const [from, to] = chosen ? [chosen.first_ts, chosen.last_ts + 1] : [start, end];
  const detail = useAsync(
    () => (p.open ? queryLogs(q.session(p.open), from, to, 5000, 'forward') : Promise.resolve([])),
    [p.open, from, to, tick],
  );
  const [picked, setPicked] = useState<TimelineRow | undefined>();
  const [copied, setCopied] = useState('');
  const rows = (list.data ?? []).map((s: SessionSummary) => ({
    session_id: s.session_id,
    project: s.project_name ?? '',
    start: s.first_ts,
    end: s.last_ts,
    duration_ms: s.last_ts - s.first_ts,
    events: s.events,
    tool_calls: s.tool_calls,
    errors: s.errors,
    outside_scope: s.outside_scope,
    agents: s.agents,
  }));
  const tree = useAsync(
    () => (p.open ? sessionTree(p.open).catch(() => undefined) : Promise.resolve(undefined)),
    [p.open, tick],
  );
  const tl = nestTimeline(timeline(detail.data ?? []), tree.data);
  const logql = q.session(p.open);
  return (
    <div class="grid">
      <Panel title="Sessions" id="sessions" error={list.error} loading={list.loading} wide>
        <Table
          id="sessions"
          rows={rows}
          onRow={(r) => p.setOpen(r.session_id)}
          selected={(r) => r.session_id === p.open}
          columns={[
            { key: 'session_id', label: 'session', render: (r) => r.session_id.slice(0, 8) },
            { key: 'project', label: 'project' },
            { key: 'start', label: 'start', render: (r) => fmtTime(r.start) },
            { key: 'end', label: 'end', render: (r) => fmtTime(r.end) },
            {
              key: 'duration_ms',
              label: 'duration',
              numeric: true,
              render: (r) => fmtDuration(r.duration_ms),
            },
            { key: 'events', label: 'events', numeric: true },
            { key: 'tool_calls', label: 'tool calls', numeric: true },
            { key: 'errors', label: 'errors', numeric: true },
            { key: 'outside_scope', label: 'outside', numeric: true },
            { key: 'agents', label: 'subagents', numeric: true },
          ]}
        />
      </Panel>
      {p.open ? (
        <Panel
          title={`Timeline of ${p.open.slice(0, 8)}`}
          id="timeline"
          error={detail.error}
          loading={detail.loading || tree.loading}
          wide
        >
          <div class="toolbar">
            <button type="button" data-action="copy-logql" onClick={() => copy(logql, setCopied)}>
              Copy as LogQL
            </button>
            <code data-logql="session">{logql}</code>
            {copied ? <span class="muted">{copied === 'copied' ? 'copied' : 'copy this:'}</span> : null}
            <button type="button" onClick={() => p.setOpen('')}>
              Close
            </button>
          </div>
          <Table
            id="timeline"
            rows={tl}
            onRow={(r) => setPicked(r)}
            columns={[
              { key: 'ts', label: 'time', render: (r) => fmtTime(r.ts) },
              {
                key: 'agent',
                label: 'agent',
                render: (r) => (
                  <span
                    class={r.depth > 0 ? 'nested' : ''}
                    data-depth={r.depth}
                    data-agent-id={r.agent_id}
                    style={{ paddingLeft: `${r.depth * 1.2}em` }}
                  >
                    {r.agent_id ? `\u21b3 ${r.agent || r.agent_id}` : 'main'}
                  </span>
                ),
              },
              { key: 'kind', label: 'event' },
              { key: 'tool', label: 'tool' },
              { key: 'summary', label: 'details' },
              {
                key: 'duration_ms',
                label: 'Pre to Post',
                numeric: true,
                render: (r) => (r.duration_ms === undefined ? '' : fmtDuration(r.duration_ms)),
              },
              { key: 'status', label: 'status' },
            ]}
          />
        </Panel>
      ) : null}
      {picked ? (
        <Drawer
          title={`${picked.kind} ${picked.tool}`}
          value={picked.events.map((l) => l.event ?? l.line)}
          onClose={() => setPicked(undefined)}
        />
      ) : null}
    </div>
  );
}
