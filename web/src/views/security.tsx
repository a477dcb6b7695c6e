import { queryLogs, security } from '../api.ts';
import { Bars, Empty, Panel, Table } from '../components.tsx';
import { q } from '../logql.ts';
import { eventSummary, fmtTime, useAsync } from '../util.ts';
import { fmtRisk } from './analytics.tsx';
import type { ViewProps } from './overview.tsx';

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
/** The newest actions outside the project listed (the Overview counts them all). */
const OUTSIDE_LIMIT = 500;

export function Security(p: ViewProps) {
  const { filters: f, start, end, tick } = p;
  const deps = [f.project, f.session, f.agent, start, end, tick];
  const report = useAsync(() => security(start, end, f), deps);
  const outside = useAsync(() => queryLogs(q.outsideScope(f), start, end, OUTSIDE_LIMIT), deps);
  const r = report.data;
  const rows = (r?.hits ?? []).map((h) => ({
    time: h.ts,
    severity: h.severity,
    rule: h.rule,
    action: h.action,
    reason: h.reason,
    mitre: h.mitre.join(' '),
    session: h.session,
    project: h.project,
  }));
  const sevRows = Object.entries(r?.bySeverity ?? {}).map(([label, value]) => ({ label, value }));
  sevRows.sort((a, b) => SEVERITIES.indexOf(a.label) - SEVERITIES.indexOf(b.label));
  const blocked = rows.filter((x) => x.action === 'deny');
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
      <Panel title="Rule hits by severity" id="severity" error={report.error} loading={report.loading}>
        {sevRows.length === 0 ? (
          <Empty>No rule hits in this range.</Empty>
        ) : (
          <Bars id="severity" rows={sevRows} />
        )}
        {r && r.total > rows.length ? (
          <p class="muted">
            {r.total} hits in this range; the tables show the newest {rows.length}.
          </p>
        ) : null}
      </Panel>
      <Panel title="Risk per session" id="session-risk" error={report.error} loading={report.loading} wide>
        <p class="muted" data-risk-scored={r?.analytics.scoredSessions ?? 0}>
          Rule risk 0-100 from the hits by severity; risk combines it with the session's anomaly risk once the
          collector has scored the session ({r?.analytics.message ?? ''}).
        </p>
        <Table
          id="session-risk"
          rows={r?.sessions ?? []}
          empty="No session had a rule hit in this range."
          onRow={(x) => p.setFilter({ session: x.session })}
          columns={[
            { key: 'session', label: 'session', render: (x) => x.session.slice(0, 8) },
            { key: 'project', label: 'project' },
            { key: 'critical', label: 'critical', numeric: true },
            { key: 'high', label: 'high', numeric: true },
            { key: 'medium', label: 'medium', numeric: true },
            { key: 'low', label: 'low', numeric: true },
            { key: 'info', label: 'info', numeric: true },
            { key: 'ruleRisk', label: 'rule risk', numeric: true, render: (x) => fmtRisk(x.ruleRisk) },
            { key: 'anomalyRisk', label: 'anomaly', numeric: true, render: (x) => fmtRisk(x.anomalyRisk) },
            { key: 'risk', label: 'risk', numeric: true, render: (x) => fmtRisk(x.risk ?? x.ruleRisk) },
          ]}
        />
      </Panel>
      <Panel title="Blocked actions" id="blocked" error={report.error}>
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
      <Panel title="Rule hits" id="hits" error={report.error} wide>
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
        {outsideRows.length >= OUTSIDE_LIMIT ? (
          <p class="muted">The newest {OUTSIDE_LIMIT}; the Overview counts them all.</p>
        ) : null}
      </Panel>
    </div>
  );
}
