import { queryLogs } from '../api.ts';
import { Bars, Empty, Panel, Table } from '../components.tsx';
import { q } from '../logql.ts';
import { eventSummary, fmtTime, useAsync } from '../util.ts';
import type { ViewProps } from './overview.tsx';

interface Detection {
  rule?: string;
  severity?: string;
  action?: string;
  reason?: string;
  mitre?: string[];
}

const LIMIT = 5000;
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

export function Security(p: ViewProps) {
  const { filters: f, start, end, tick } = p;
  const deps = [f.project, f.session, f.agent, start, end, tick];
  const hits = useAsync(() => queryLogs(q.detections(f), start, end, LIMIT), deps);
  const outside = useAsync(() => queryLogs(q.outsideScope(f), start, end, 1000), deps);
  const rows = (hits.data ?? []).flatMap((l) => {
    const dets = (Array.isArray(l.event?.['detections']) ? l.event?.['detections'] : []) as Detection[];
    return dets.map((d) => ({
      time: l.ts,
      severity: d.severity ?? '',
      rule: d.rule ?? '',
      action: d.action ?? '',
      reason: d.reason ?? '',
      mitre: (d.mitre ?? []).join(' '),
      session: String(l.event?.['session_id'] ?? ''),
      project: l.labels['project'] ?? '',
    }));
  });
  const bySeverity = new Map<string, number>();
  for (const r of rows) bySeverity.set(r.severity, (bySeverity.get(r.severity) ?? 0) + 1);
  const sevRows = [...bySeverity].map(([label, value]) => ({ label, value }));
  sevRows.sort((a, b) => SEVERITIES.indexOf(a.label) - SEVERITIES.indexOf(b.label));
  const blocked = rows.filter((r) => r.action === 'deny');
  const outsideRows = (outside.data ?? []).map((l) => ({
    time: l.ts,
    hook: String(l.event?.['hook_event'] ?? ''),
    tool: String(l.event?.['tool_name'] ?? ''),
    details: eventSummary(l.event),
    session: String(l.event?.['session_id'] ?? ''),
    project: l.labels['project'] ?? '',
  }));
  return (
    <div class="grid">
      <Panel title="Rule hits by severity" id="severity" error={hits.error} loading={hits.loading}>
        {sevRows.length === 0 ? (
          <Empty>No rule hits in this range.</Empty>
        ) : (
          <Bars id="severity" rows={sevRows} />
        )}
        {(hits.data?.length ?? 0) >= LIMIT ? (
          <p class="muted">Counted over the newest {LIMIT} events with hits.</p>
        ) : null}
      </Panel>
      <Panel title="Blocked actions" id="blocked" error={hits.error}>
        <Table
          id="blocked"
          rows={blocked}
          empty="No action was denied in this range (the guard denies only when connected with --guard)."
          columns={[
            { key: 'time', label: 'time', render: (r) => fmtTime(r.time) },
            { key: 'rule', label: 'rule' },
            { key: 'reason', label: 'reason' },
          ]}
        />
      </Panel>
      <Panel title="Rule hits" id="hits" error={hits.error} wide>
        <Table
          id="rule-hits"
          rows={rows}
          empty="No rule hits in this range."
          columns={[
            { key: 'time', label: 'time', render: (r) => fmtTime(r.time) },
            {
              key: 'severity',
              label: 'severity',
              render: (r) => <span class={`sev sev-${r.severity}`}>{r.severity}</span>,
            },
            { key: 'rule', label: 'rule' },
            { key: 'action', label: 'action' },
            { key: 'mitre', label: 'MITRE' },
            { key: 'reason', label: 'reason' },
            { key: 'project', label: 'project' },
            { key: 'session', label: 'session', render: (r) => r.session.slice(0, 8) },
          ]}
        />
      </Panel>
      <Panel
        title="Actions outside the project"
        id="outside"
        error={outside.error}
        loading={outside.loading}
        wide
      >
        <Table
          id="outside-scope"
          rows={outsideRows}
          empty="No action touched a path outside its project in this range."
          columns={[
            { key: 'time', label: 'time', render: (r) => fmtTime(r.time) },
            { key: 'hook', label: 'hook' },
            { key: 'tool', label: 'tool' },
            { key: 'details', label: 'details' },
            { key: 'project', label: 'project' },
            { key: 'session', label: 'session', render: (r) => r.session.slice(0, 8) },
          ]}
        />
      </Panel>
    </div>
  );
}
