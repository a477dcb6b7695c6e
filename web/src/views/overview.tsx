import { queryMatrix, queryVector, type VectorSample } from '../api.ts';
import { Bars, Panel, Stat, Table, TimeChart } from '../components.tsx';
import { type Filters, q } from '../logql.ts';
import { stepFor } from '../state.ts';
import { fmtDuration, useAsync } from '../util.ts';

export interface ViewProps {
  filters: Filters;
  start: number;
  end: number;
  seconds: number;
  tick: number;
  setFilter: (patch: Partial<Filters>) => void;
}

const num = (v: VectorSample[] | undefined) => (v && v.length > 0 ? Number(v[0]?.value[1]) : 0);
const byLabel = (v: VectorSample[] | undefined, label: string) =>
  (v ?? []).map((s) => ({ label: s.metric[label] ?? '', value: Number(s.value[1]) }));

export function Overview(p: ViewProps) {
  const { filters: f, start, end, seconds, tick } = p;
  const deps = [f.project, f.session, f.agent, start, end, tick];
  const step = stepFor(seconds);
  const activity = useAsync(() => queryMatrix(q.activity(f, step), start, end, step), deps);
  const totals = useAsync(
    () =>
      Promise.all([
        queryVector(q.total(f, seconds), end),
        queryVector(q.activeSessions(f, seconds), end),
        queryVector(q.byLabel(f, 'tool', seconds, ['hook_event="PreToolUse"']), end),
        queryVector(q.byLabel(f, 'event_type', seconds), end),
        queryVector(q.byLabel(f, 'project', seconds), end),
        queryVector(q.outsideTotal(f, seconds), end),
      ]),
    deps,
  );
  const durations = useAsync(
    () =>
      Promise.all([
        queryVector(q.toolDuration(f, 0.5, seconds), end),
        queryVector(q.toolDuration(f, 0.95, seconds), end),
      ]),
    deps,
  );
  const tops = useAsync(
    () =>
      Promise.all([
        queryVector(q.topField(f, 'action_details_file_path', seconds), end),
        queryVector(q.topField(f, 'action_details_command', seconds), end),
      ]),
    deps,
  );
  const [total, active, tools, types, projects, outside] = totals.data ?? [];
  const toolCalls = byLabel(tools, 'tool').reduce((a, r) => a + r.value, 0);
  const p95 = new Map((durations.data?.[1] ?? []).map((s) => [s.metric['tool'] ?? '', Number(s.value[1])]));
  const durationRows = (durations.data?.[0] ?? [])
    .map((s) => ({
      tool: s.metric['tool'] ?? '',
      p50_ms: Number(s.value[1]),
      p95_ms: p95.get(s.metric['tool'] ?? '') ?? 0,
    }))
    .sort((a, b) => b.p95_ms - a.p95_ms);
  const top = (v: VectorSample[] | undefined, label: string) =>
    (v ?? [])
      .map((s) => ({ value: s.metric[label] ?? '', count: Number(s.value[1]) }))
      .sort((a, b) => b.count - a.count);
  return (
    <div class="grid">
      <Panel title="Summary" id="summary" error={totals.error} wide>
        <div class="stats">
          <Stat id="events" label="events" value={totals.data ? num(total) : undefined} />
          <Stat id="sessions" label="active sessions" value={totals.data ? num(active) : undefined} />
          <Stat id="tool-calls" label="tool calls" value={totals.data ? toolCalls : undefined} />
          <Stat id="outside" label="outside project" value={totals.data ? num(outside) : undefined} />
        </div>
      </Panel>
      <Panel
        title="Activity (events per step, by type)"
        id="activity"
        error={activity.error}
        loading={activity.loading}
        wide
      >
        <TimeChart
          id="activity"
          range={[start, end]}
          series={activity.data ?? []}
          label={(m) => m['event_type'] ?? ''}
        />
      </Panel>
      <Panel title="Tool distribution (calls)" id="tools" error={totals.error}>
        <Bars id="tools" rows={byLabel(tools, 'tool')} />
      </Panel>
      <Panel title="Events by type" id="types" error={totals.error}>
        <Bars id="types" rows={byLabel(types, 'event_type')} />
      </Panel>
      <Panel title="Projects" id="projects" error={totals.error}>
        <Bars
          id="projects"
          rows={byLabel(projects, 'project')}
          onPick={(project) => p.setFilter({ project })}
        />
      </Panel>
      <Panel title="Tool durations (Pre to Post)" id="durations" error={durations.error}>
        <Table
          id="tool-durations"
          rows={durationRows}
          columns={[
            { key: 'tool', label: 'tool' },
            { key: 'p50_ms', label: 'p50', numeric: true, render: (r) => fmtDuration(r.p50_ms) },
            { key: 'p95_ms', label: 'p95', numeric: true, render: (r) => fmtDuration(r.p95_ms) },
          ]}
        />
      </Panel>
      <Panel title="Top files" id="top-files" error={tops.error}>
        <Table
          id="top-files"
          rows={top(tops.data?.[0], 'action_details_file_path')}
          columns={[
            { key: 'value', label: 'file' },
            { key: 'count', label: 'calls', numeric: true },
          ]}
        />
      </Panel>
      <Panel title="Top commands" id="top-commands" error={tops.error}>
        <Table
          id="top-commands"
          rows={top(tops.data?.[1], 'action_details_command')}
          columns={[
            { key: 'value', label: 'command' },
            { key: 'count', label: 'calls', numeric: true },
          ]}
        />
      </Panel>
    </div>
  );
}
