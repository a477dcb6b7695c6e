import { type AgentSummary, fleet, sessionTree, type TreeNode, type UsageSum } from '../api.ts';
import { Bars, Empty, Panel, Stat, Table } from '../components.tsx';
import { fmtDuration, fmtNum, fmtTime, useAsync } from '../util.ts';
import type { ViewProps } from './overview.tsx';

const tokens = (u: UsageSum) => u.input + u.output + u.cacheCreation + u.cacheRead;
export const fmtCost = (u: UsageSum) =>
  u.cost === null ? (u.messages > 0 ? '?' : '-') : `$${u.cost.toFixed(u.cost < 1 ? 4 : 2)}`;
/** The instance name of this collector's own rows (src/agents/federated.ts). */
const LOCAL = 'local';
const agentName = (type: string | null, id: string) => (id === '' ? 'main' : (type ?? id.slice(0, 8)));

/** One lane: an agent's span of activity. */
interface Lane {
  key: string;
  label: string;
  first: number;
  last: number;
  depth: number;
  outcome: string;
}

function flatten(n: TreeNode, depth: number, out: Lane[]): Lane[] {
  if (n.first_ts !== null && n.last_ts !== null)
    out.push({
      key: n.agent_id || 'main',
      label: agentName(n.agent_type, n.agent_id),
      first: n.first_ts,
      last: n.last_ts,
      depth,
      outcome: n.outcome,
    });
  for (const c of n.children) flatten(c, depth + 1, out);
  return out;
}

/** Agents as bars on one time axis, one lane each. */
function SwimLanes(props: { lanes: Lane[] }) {
  const { lanes } = props;
  if (lanes.length === 0) return <Empty>No agent activity in this range.</Empty>;
  const t0 = Math.min(...lanes.map((l) => l.first));
  const t1 = Math.max(...lanes.map((l) => l.last), t0 + 1);
  const pct = (t: number) => ((t - t0) / (t1 - t0)) * 100;
  return (
    <div class="lanes" data-lanes="agents">
      <div class="lane-axis muted">
        <span>{fmtTime(t0)}</span>
        <span>{fmtTime(t1)}</span>
      </div>
      {lanes.map((l) => (
        <div class="lane" key={l.key} data-lane={l.key}>
          <span class="lane-label" title={l.label} style={{ paddingLeft: `${l.depth}em` }}>
            {l.label}
          </span>
          <span class="lane-track">
            <span
              class={`lane-bar outcome-${l.outcome}`}
              title={`${fmtTime(l.first)} to ${fmtTime(l.last)} (${l.outcome})`}
              style={{
                left: `${pct(l.first)}%`,
                width: `${Math.max(0.5, pct(l.last) - pct(l.first))}%`,
              }}
            />
          </span>
        </div>
      ))}
    </div>
  );
}

/** The delegation tree as nested lists. */
function Tree(props: { node: TreeNode }) {
  const n = props.node;
  return (
    <li data-tree-agent={n.agent_id || 'main'}>
      <span class="tree-name">{agentName(n.agent_type, n.agent_id)}</span>{' '}
      <span class={`outcome outcome-${n.outcome}`}>{n.outcome}</span>{' '}
      <span class="muted">
        {fmtDuration(n.duration_ms)}, {fmtNum(n.tool_calls)} tool calls
        {n.tool_calls > 0
          ? ` (${Object.entries(n.tools)
              .sort((a, b) => b[1] - a[1])
              .map(([t, c]) => `${t} ${c}`)
              .join(', ')})`
          : ''}
        , {fmtNum(n.errors)} errors, {fmtNum(tokens(n.usage))} tokens, {fmtCost(n.usage)}
        {n.delegation?.description ? `: ${n.delegation.description}` : ''}
        {n.delegation?.background ? ' (background)' : ''}
      </span>
      {n.children.length > 0 ? (
        <ul>
          {n.children.map((c) => (
            <Tree key={c.agent_id} node={c} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

export function Fleet(p: ViewProps & { open: string; setOpen: (id: string) => void }) {
  const { filters: f, start, end, tick } = p;
  const report = useAsync(() => fleet(start, end, f), [f.project, f.session, f.agent, start, end, tick]);
  const tree = useAsync(() => (p.open ? sessionTree(p.open) : Promise.resolve(undefined)), [p.open, tick]);
  const r = report.data;
  const agents = r?.agents ?? [];
  const sum = (k: (a: AgentSummary) => number) => agents.reduce((s, a) => s + k(a), 0);
  const cost = r ? r.costByModel.total : undefined;
  // Columns naming the collector only when peers answered too.
  const federated = (r?.instances.length ?? 0) > 1;
  const failed = (r?.instances ?? []).filter((i) => !i.ok);
  const rows = agents.map((a) => ({
    instance: a.instance,
    host: a.host ?? '',
    session: a.session_id,
    agent: agentName(a.agent_type, a.agent_id),
    agent_id: a.agent_id,
    project: a.project_name ?? '',
    events: a.events,
    tool_calls: a.tool_calls,
    errors: a.errors,
    duration_ms: a.duration_ms,
    tokens: tokens(a.usage),
    cost: a.usage.cost,
    usage: a.usage,
  }));
  const lanes: Lane[] = tree.data
    ? flatten(tree.data.root, 0, [])
    : agents
        .filter((a) => a.first_ts !== null && a.last_ts !== null)
        .slice(0, 30)
        .map((a) => ({
          key: `${a.instance}/${a.session_id}/${a.agent_id || 'main'}`,
          label: `${a.session_id.slice(0, 8)} ${agentName(a.agent_type, a.agent_id)}`,
          first: a.first_ts as number,
          last: a.last_ts as number,
          depth: a.agent_id ? 1 : 0,
          outcome: 'span',
        }));
  return (
    <div class="grid">
      <Panel title="Agents" id="fleet-summary" error={report.error} loading={report.loading} wide>
        <div class="stats">
          <Stat id="agents" label="agents" value={r?.agentsInRange} />
          <Stat
            id="subagents"
            label="subagents"
            value={r ? agents.filter((a) => a.agent_id).length : undefined}
          />
          <Stat id="fleet-tool-calls" label="tool calls" value={r ? sum((a) => a.tool_calls) : undefined} />
          <Stat id="fleet-errors" label="errors" value={r ? sum((a) => a.errors) : undefined} />
          <Stat id="tokens" label="tokens" value={cost ? tokens(cost) : undefined} />
          <Stat id="cost" label="cost (USD)" value={cost ? fmtCost(cost) : undefined} />
          <Stat id="conflicts" label="file conflicts" value={r?.conflictsInRange} />
        </div>
      </Panel>
      <Panel title="Agents in this range" id="agents" error={report.error} wide>
        {failed.length > 0 ? (
          <p class="error" data-failed-instances>
            {`Partial: no answer from ${failed.map((i) => `${i.name} (${i.error ?? 'no answer'})`).join(', ')}: their agents and conflicts are missing.`}
          </p>
        ) : null}
        <Table
          id="agents"
          rows={rows}
          // The delegation tree is read from this collector's store: a peer's sessions have none here.
          onRow={(x) => {
            if (x.instance === LOCAL) p.setOpen(x.session);
          }}
          selected={(x) => x.session === p.open}
          empty="No agent was active in this range."
          columns={[
            ...(federated ? [{ key: 'instance' as const, label: 'instance' }] : []),
            { key: 'session', label: 'session', render: (x) => x.session.slice(0, 8) },
            { key: 'agent', label: 'agent' },
            { key: 'host', label: 'host' },
            { key: 'project', label: 'project' },
            { key: 'events', label: 'events', numeric: true },
            { key: 'tool_calls', label: 'tool calls', numeric: true },
            { key: 'errors', label: 'errors', numeric: true },
            {
              key: 'duration_ms',
              label: 'duration',
              numeric: true,
              render: (x) => fmtDuration(x.duration_ms),
            },
            { key: 'tokens', label: 'tokens', numeric: true, render: (x) => fmtNum(x.tokens) },
            { key: 'cost', label: 'cost', numeric: true, render: (x) => fmtCost(x.usage) },
          ]}
        />
        {r && r.agentsInRange > agents.length ? (
          <p class="muted">
            The {agents.length} most recently active of {r.agentsInRange} agents.
          </p>
        ) : null}
      </Panel>
      <Panel
        title={p.open ? `Delegation tree of ${p.open.slice(0, 8)}` : 'Delegation tree'}
        id="tree"
        error={tree.error}
        loading={tree.loading}
      >
        {tree.data ? (
          <>
            <p class="muted">
              {tree.data.project_name ?? ''} {tree.data.source ? `(${tree.data.source})` : ''}{' '}
              {tree.data.agents} agents, {fmtNum(tokens(tree.data.total))} tokens, {fmtCost(tree.data.total)}
            </p>
            <ul class="tree" data-tree={tree.data.session_id}>
              <Tree node={tree.data.root} />
            </ul>
          </>
        ) : (
          <Empty>Pick an agent in the table to see its session's delegation tree.</Empty>
        )}
      </Panel>
      <Panel
        title={p.open ? 'Swim lanes of the session' : 'Swim lanes (most recently active agents)'}
        id="lanes"
        error={report.error}
      >
        <SwimLanes lanes={lanes} />
      </Panel>
      <Panel title="File conflicts between agents" id="conflicts" error={report.error} wide>
        <Table
          id="conflicts"
          rows={(r?.conflicts ?? []).map((c) => ({
            instance: c.instance,
            time: c.second.ts,
            file: c.file_path,
            kind: c.kind,
            first: `${c.first.session_id.slice(0, 8)} ${c.first.agent_id || 'main'} ${c.first.tool}`,
            second: `${c.second.session_id.slice(0, 8)} ${c.second.agent_id || 'main'} ${c.second.tool}`,
            gap_ms: c.gap_ms,
          }))}
          empty="No two agents touched the same file within a minute of each other in this range."
          columns={[
            ...(federated ? [{ key: 'instance' as const, label: 'instance' }] : []),
            { key: 'time', label: 'time', render: (x) => fmtTime(x.time) },
            { key: 'file', label: 'file' },
            { key: 'kind', label: 'kind' },
            { key: 'first', label: 'first' },
            { key: 'second', label: 'second' },
            { key: 'gap_ms', label: 'gap', numeric: true, render: (x) => fmtDuration(x.gap_ms) },
          ]}
        />
      </Panel>
      <Panel title="Cost by model" id="cost-model" error={report.error}>
        <Table
          id="cost-model"
          rows={(r?.costByModel.rows ?? []).map((x) => ({
            model: x.key,
            messages: x.messages,
            tokens: tokens(x),
            cost: x.cost,
            usage: x as UsageSum,
          }))}
          empty="No token usage in this range (usage comes from the session transcripts)."
          columns={[
            { key: 'model', label: 'model' },
            { key: 'messages', label: 'responses', numeric: true },
            { key: 'tokens', label: 'tokens', numeric: true, render: (x) => fmtNum(x.tokens) },
            { key: 'cost', label: 'cost', numeric: true, render: (x) => fmtCost(x.usage) },
          ]}
        />
      </Panel>
      <Panel title="Cost by day (USD)" id="cost-day" error={report.error}>
        <Bars
          id="cost-day"
          rows={(r?.costByDay.rows ?? []).map((x) => ({
            label: x.key,
            value: Math.round((x.cost ?? 0) * 100) / 100,
          }))}
        />
      </Panel>
    </div>
  );
}
