import type { TelemetryEvent } from '../types.ts';

/** Plain-text table: columns sized to content, long cells cut with an ellipsis. */
export function table(headers: string[], rows: string[][], maxWidth = 60): string {
  const cut = (s: string) => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s);
  const cells = rows.map((r) => r.map(cut));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function shortTime(ts: string | number): string {
  const d = typeof ts === 'number' ? new Date(ts) : new Date(ts);
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export function shortId(id: string | undefined): string {
  return id ? id.slice(0, 8) : '';
}

/** What the event did, in a few words: the command, the path, the pattern, the URL... */
export function eventSummary(e: TelemetryEvent): string {
  const a = e.action_details;
  const s =
    a.command ??
    a.file_path ??
    (a.search_pattern !== undefined
      ? `${a.search_pattern}${a.search_path ? ` in ${a.search_path}` : ''}`
      : undefined) ??
    a.url ??
    a.query ??
    (typeof a.source === 'string' ? `source=${a.source}` : undefined) ??
    (typeof a.reason === 'string' ? `reason=${a.reason}` : undefined) ??
    (typeof a.task_subject === 'string' ? a.task_subject : undefined) ??
    '';
  return String(s).replace(/\s+/g, ' ');
}

/** Security rule hits of an event worth showing (alert or stricter), e.g. `DENY CT-CRED-001`. */
export function detectionsSummary(e: TelemetryEvent): string {
  const shown = (e.detections ?? []).filter((d) => d.action !== 'log');
  return shown.map((d) => `${d.action.toUpperCase()} ${d.rule}`).join(' ');
}

/** One readable line per event for `logs`. */
export function logLine(e: TelemetryEvent): string {
  const flags: string[] = [];
  const hits = detectionsSummary(e);
  if (hits !== '') flags.push(hits);
  if (e.action_details.outside_project_scope) flags.push('OUTSIDE-SCOPE');
  if (e.success === false) flags.push('FAILED');
  if (e.agent_id) flags.push(`agent=${e.agent_id}`);
  const tool = e.tool_name ? ` ${e.tool_name}` : '';
  const what = eventSummary(e);
  return [
    shortTime(e.timestamp),
    e.level.padEnd(5),
    `${e.project_name}/${shortId(e.session_id)}`,
    `${e.hook_event}${tool}`,
    e.event_type,
    what.length > 120 ? `${what.slice(0, 119)}…` : what,
    flags.join(' '),
  ]
    .filter((x) => x !== '')
    .join('  ');
}

/** `1 session`, `3 sessions`; `1 entry`, `2 entries` with the plural given. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
