import { analytics, type MatrixSeries, sessionAnalytics } from '../api.ts';
import { Empty, Panel, Stat, Table, TimeChart } from '../components.tsx';
import { fmtTime, useAsync } from '../util.ts';
import type { ViewProps } from './overview.tsx';

export const fmtRisk = (v: number | null | undefined) =>
  v === null || v === undefined ? '-' : String(Math.round(v));
const fmtValue = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2));

/**
 * The analytics the collector keeps: sessions by risk (0-100) with the reasons in words, one session's
 * features against the user's usual, risk trends; and, in cold start, how much history is still missing.
 */
export function Analytics(p: ViewProps & { open: string; setOpen: (id: string) => void }) {
  const { filters: f, start, end, tick } = p;
  const report = useAsync(() => analytics(start, end, f), [f.project, start, end, tick]);
  const r = report.data;
  const st = r?.status;
  const list = r?.anomalies.sessions ?? [];
  // The session compared with the usual: the one picked, else the riskiest in range.
  const shown = p.open && list.some((s) => s.session === p.open) ? p.open : (list[0]?.session ?? '');
  const detail = useAsync(
    () => (shown ? sessionAnalytics(shown) : Promise.resolve(undefined)),
    [shown, tick],
  );
  const cold = !st?.model || st.model.coldStart;
  // Loading until the compared session's own answer is in (the list may have just picked another).
  const featuresLoading =
    report.loading || detail.loading || (shown !== '' && !detail.error && detail.data?.session !== shown);
  const threshold = st?.threshold ?? 70;
  const trends: MatrixSeries[] = (
    [
      ['mean risk', 'meanRisk'],
      ['max risk', 'maxRisk'],
      [`sessions with anomaly risk >= ${threshold}`, 'anomalies'],
    ] as const
  ).map(([name, key]) => ({
    metric: { name },
    values: (r?.trends ?? []).map((t) => [t.t / 1000, String(t[key])] as [number, string]),
  }));
  const rows = list.map((s) => ({
    session: s.session,
    project: s.project,
    start: Date.parse(s.start),
    calls: s.toolCalls,
    risk: s.risk,
    ruleRisk: s.ruleRisk,
    anomalyRisk: s.anomalyRisk,
    anomalyScore: s.anomalyScore,
    alerted: s.alerted ? 'yes' : '',
    why: s.reasons.join('; '),
  }));
  return (
    <div class="grid">
      <Panel title="Behavioural analytics" id="analytics" error={report.error} loading={report.loading} wide>
        <div class="stats">
          <Stat id="history" label="sessions of history" value={st ? (st.model?.sessions ?? 0) : undefined} />
          <Stat id="scored" label="sessions scored" value={st?.scoredSessions} />
          <Stat id="in-range" label="scored in range" value={r?.anomalies.total} />
          <Stat
            id="anomalous"
            label={`anomaly risk >= ${threshold}`}
            value={r ? list.filter((s) => (s.anomalyRisk ?? 0) >= threshold).length : undefined}
          />
          <Stat id="alerted" label="sessions alerted" value={st?.alertedSessions} />
        </div>
        {st ? (
          <p
            class={cold ? 'empty' : 'muted'}
            data-model-state={st.model ? (st.model.coldStart ? 'cold' : 'trained') : 'none'}
          >
            {cold && st.model
              ? `Too little history to say what is unusual: ${st.model.sessions} of ${st.model.minHistory} sessions with tool calls so far. Until then a session's risk comes from security rule hits alone.`
              : `${st.message}.`}
            {st.model && !cold ? ` Model trained ${fmtTime(Date.parse(st.model.trainedAt))}.` : ''}
          </p>
        ) : null}
      </Panel>
      <Panel title="Sessions by risk" id="anomalies" error={report.error} wide>
        <Table
          id="anomalies"
          rows={rows}
          onRow={(s) => p.setOpen(s.session)}
          selected={(s) => s.session === shown}
          empty="No scored session in this range."
          columns={[
            { key: 'session', label: 'session', render: (s) => s.session.slice(0, 8) },
            { key: 'project', label: 'project' },
            { key: 'start', label: 'start', render: (s) => fmtTime(s.start) },
            { key: 'calls', label: 'calls', numeric: true },
            { key: 'risk', label: 'risk', numeric: true, render: (s) => fmtRisk(s.risk) },
            { key: 'ruleRisk', label: 'rules', numeric: true, render: (s) => fmtRisk(s.ruleRisk) },
            { key: 'anomalyRisk', label: 'anomaly', numeric: true, render: (s) => fmtRisk(s.anomalyRisk) },
            {
              key: 'anomalyScore',
              label: 'score',
              numeric: true,
              render: (s) => (s.anomalyScore === null ? '-' : s.anomalyScore.toFixed(3)),
            },
            { key: 'alerted', label: 'alerted' },
            { key: 'why', label: 'why', wrap: true },
          ]}
        />
        {r && r.anomalies.total > list.length ? (
          <p class="muted">
            The {list.length} riskiest of {r.anomalies.total} scored sessions in range.
          </p>
        ) : null}
      </Panel>
      <Panel
        title={shown ? `Features of ${shown.slice(0, 8)} against the usual` : 'Features against the usual'}
        id="features"
        error={detail.error}
        loading={featuresLoading}
      >
        {cold ? (
          <Empty>
            The usual is learnt from {st?.model?.minHistory ?? 30} sessions of history; there are fewer yet,
            so only the session's own values are shown.
          </Empty>
        ) : null}
        <Table
          id="features"
          rows={(detail.data?.features ?? []).map((x) => ({ ...x, flag: x.unusual ? 'unusual' : '' }))}
          empty="Pick a scored session."
          columns={[
            { key: 'name', label: 'feature' },
            { key: 'value', label: 'value', numeric: true, render: (x) => fmtValue(x.value) },
            { key: 'usual', label: 'usual', numeric: true, render: (x) => fmtValue(x.usual) },
            {
              key: 'z',
              label: 'z',
              numeric: true,
              render: (x) => (
                <span class={x.unusual ? 'sev sev-high' : ''}>{x.z === null ? '-' : x.z.toFixed(1)}</span>
              ),
            },
            { key: 'flag', label: '' },
          ]}
        />
      </Panel>
      <Panel title="Risk trends" id="trends" error={report.error}>
        {(r?.trends.length ?? 0) > 1 ? (
          <TimeChart
            id="trends"
            range={[start, end]}
            series={trends}
            label={(x) => x['name'] ?? ''}
            height={200}
          />
        ) : (
          <Empty>Trends need scored sessions in at least two periods of this range.</Empty>
        )}
      </Panel>
    </div>
  );
}
