import { queryMatrix, system } from '../api.ts';
import { Panel, Stat, Table, TimeChart } from '../components.tsx';
import { q } from '../logql.ts';
import { stepFor } from '../state.ts';
import { fmtBytes, fmtDuration, fmtTime, useAsync } from '../util.ts';
import type { ViewProps } from './overview.tsx';

export function System(p: ViewProps) {
  const { filters: f, start, end, seconds, tick } = p;
  const report = useAsync(system, [tick, end]);
  const step = stepFor(seconds);
  const rate = useAsync(
    () => queryMatrix(q.total(f, step), start, end, step),
    [f.project, f.session, f.agent, start, end, tick],
  );
  const r = report.data;
  return (
    <div class="grid">
      <Panel title="Collector" id="collector" error={report.error} wide>
        <div class="stats">
          <Stat
            id="running"
            label="collector"
            value={r ? (r.collector.running ? `running (pid ${r.collector.pid})` : 'stopped') : undefined}
          />
          <Stat
            id="uptime"
            label="uptime"
            value={
              r?.collector.uptimeSeconds != null ? fmtDuration(r.collector.uptimeSeconds * 1000) : undefined
            }
          />
          <Stat id="backlog" label="spool backlog" value={r?.spool.backlog} />
          <Stat id="quarantined" label="quarantined" value={r?.spool.quarantined} />
          <Stat id="store-events" label="events stored" value={r?.store.events} />
          <Stat id="store-size" label="store size" value={r ? fmtBytes(r.store.bytes) : undefined} />
          <Stat id="audit-entries" label="audit entries" value={r?.audit.entries} />
          <Stat id="checkpoints" label="signed checkpoints" value={r?.audit.checkpoints.count} />
        </div>
        {r ? (
          <p class="muted">
            version {r.collector.version ?? '?'}; since {r.collector.startedAt ?? '?'}; last event{' '}
            {r.store.lastEventTs ? fmtTime(r.store.lastEventTs) : 'none'}; audit log {fmtBytes(r.audit.bytes)}{' '}
            in {r.audit.files} files; last checkpoint {r.audit.checkpoints.last ?? 'none'}. Check the chain
            with: claude-telemetry verify
          </p>
        ) : null}
      </Panel>
      <Panel title="Ingest rate (events per step)" id="ingest" error={rate.error} loading={rate.loading} wide>
        <TimeChart
          id="ingest"
          range={[start, end]}
          series={rate.data ?? []}
          label={() => 'events'}
          height={160}
        />
      </Panel>
      <Panel title="Forwarding (sinks)" id="sinks" error={report.error} wide>
        <Table
          id="sinks"
          rows={r?.sinks ?? []}
          empty="No sinks configured (sinks: in config.yaml forwards to Loki or OTLP)."
          columns={[
            { key: 'name', label: 'sink' },
            { key: 'type', label: 'type' },
            { key: 'state', label: 'state' },
            { key: 'lagEntries', label: 'lag (entries)', numeric: true },
            { key: 'sent', label: 'sent', numeric: true },
            { key: 'lastError', label: 'last error' },
          ]}
        />
      </Panel>
    </div>
  );
}
