import { overview } from '../api.ts';
import { Bars, Panel, Stat, Table, TimeChart } from '../components.tsx';
import type { Filters } from '../logql.ts';
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

export function Overview(p: ViewProps) {
  const { filters: f, start, end, seconds, tick } = p;
  const stepMs = stepFor(seconds) * 1000;
  const report = useAsync(
    () => overview(start, end, f, stepMs),
    [f.project, f.session, f.agent, start, end, tick],
  );
  const r = report.data;
  const toolCalls = r ? r.byTool.reduce((a, x) => a + x.value, 0) : undefined;
  const durationRows = r?.durations ?? [];
  const panel = { error: report.error, loading: report.loading };
  return (
    <div class="grid">
      <Panel title="Summary" id="summary" {...panel} wide>
        <div class="stats">
          <Stat id="events" label="events" value={r?.total} />
          <Stat id="sessions" label="active sessions" value={r?.activeSessions} />
          <Stat id="tool-calls" label="tool calls" value={toolCalls} />
          <Stat id="outside" label="outside project" value={r?.outside} />
        </div>
      </Panel>
      <Panel title="Activity (events per step, by type)" id="activity" {...panel} wide>
        <TimeChart
          id="activity"
          range={[start, end]}
          series={r?.activity ?? []}
          label={(m) => m['event_type'] ?? ''}
        />
      </Panel>
      <Panel title="Tool distribution (calls)" id="tools" {...panel}>
        <Bars id="tools" rows={r?.byTool ?? []} />
      </Panel>
      <Panel title="Events by type" id="types" {...panel}>
        <Bars id="types" rows={r?.byType ?? []} />
      </Panel>
      <Panel title="Projects" id="projects" {...panel}>
        <Bars id="projects" rows={r?.byProject ?? []} onPick={(project) => p.setFilter({ project })} />
      </Panel>
      <Panel title="Tool durations (Pre to Post)" id="durations" {...panel}>
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
      <Panel title="Top files" id="top-files" {...panel}>
        <Table
          id="top-files"
          rows={r?.topFiles ?? []}
          columns={[
            { key: 'value', label: 'file' },
            { key: 'count', label: 'calls', numeric: true },
          ]}
        />
      </Panel>
      <Panel title="Top commands" id="top-commands" {...panel}>
        <Table
          id="top-commands"
          rows={r?.topCommands ?? []}
          columns={[
            { key: 'value', label: 'command' },
            { key: 'count', label: 'calls', numeric: true },
          ]}
        />
      </Panel>
    </div>
  );
}
