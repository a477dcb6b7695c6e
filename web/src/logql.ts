/** LogQL the views send, built from the filters (project, session, agent). Values are escaped, never spliced raw. */

export interface Filters {
  project: string;
  session: string;
  agent: string;
}

export function quote(v: string): string {
  return JSON.stringify(v);
}

/** `{service="claude-telemetry", ...}` with the filters and any extra matchers. */
export function selector(f: Filters, extra: string[] = []): string {
  const m = ['service="claude-telemetry"'];
  if (f.project) m.push(`project=${quote(f.project)}`);
  if (f.session) m.push(`session_id=${quote(f.session)}`);
  if (f.agent) m.push(`agent_type=${quote(f.agent)}`);
  return `{${[...m, ...extra].join(', ')}}`;
}

/** A duration LogQL accepts, from seconds. */
export function dur(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export const q = {
  total: (f: Filters, rangeS: number) => `sum(count_over_time(${selector(f)}[${dur(rangeS)}]))`,
  outsideScope: (f: Filters) => `${selector(f, ['outside_project_scope="true"'])}`,
  session: (id: string) => `{service="claude-telemetry", session_id=${quote(id)}}`,
};
