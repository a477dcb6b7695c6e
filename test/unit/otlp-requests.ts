/** OTLP/JSON requests for the OTLP tests: api_request log records as Claude Code sends them. */

type Attr = { key: string; value: Record<string, unknown> };
const s = (key: string, v: string): Attr => ({ key, value: { stringValue: v } });
const i = (key: string, v: number | string): Attr => ({ key, value: { intValue: v } });
const d = (key: string, v: number): Attr => ({ key, value: { doubleValue: v } });

/** One api_request log record in OTLP/JSON form. */
export function apiRequestRecord(over: {
  session?: string;
  requestId?: string;
  agentId?: string;
  input?: number | string;
  output?: number;
  cacheRead?: number;
  cacheCreation?: number;
  cost?: number;
  model?: string;
  seq?: number;
  ts?: string;
}): Record<string, unknown> {
  const attrs: Attr[] = [
    s('event.name', 'api_request'),
    s('event.timestamp', over.ts ?? '2026-11-21T10:00:00.000Z'),
    i('event.sequence', over.seq ?? 1),
    s('prompt.id', 'prompt-1'),
    i('input_tokens', over.input ?? 100),
    i('output_tokens', over.output ?? 20),
    i('cache_read_tokens', over.cacheRead ?? 0),
    i('cache_creation_tokens', over.cacheCreation ?? 0),
    d('cost_usd', over.cost ?? 0.001),
    i('duration_ms', 42),
    s('query_source', over.agentId ? 'agent:builtin:general-purpose' : 'sdk'),
  ];
  if (over.session !== '') attrs.push(s('session.id', over.session ?? 'sess-1'));
  if (over.model !== '') attrs.push(s('model', over.model ?? 'claude-sonnet-4-5'));
  if (over.requestId) attrs.push(s('request_id', over.requestId));
  if (over.agentId) attrs.push(s('agent_id', over.agentId), s('agent.name', 'general-purpose'));
  return {
    timeUnixNano: '1795255200000000000',
    body: { stringValue: 'claude_code.api_request' },
    attributes: attrs,
  };
}

export function logsRequest(records: Record<string, unknown>[]): Record<string, unknown> {
  return {
    resourceLogs: [
      {
        resource: { attributes: [s('service.name', 'claude-code'), s('service.version', '2.1.329')] },
        scopeLogs: [{ scope: { name: 'com.anthropic.claude_code.events' }, logRecords: records }],
      },
    ],
  };
}
