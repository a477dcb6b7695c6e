/**
 * The simple event filters `query` and `export` share: the same options, the same help, and one reading of
 * them into a store filter (a shortened session id resolved against the store).
 */
import type { QueryFilter, Store } from '../store/index.ts';
import { parseTime, UsageError } from './args.ts';

export const EVENT_FILTER_OPTIONS = {
  session: { type: 'string' },
  project: { type: 'string' },
  tool: { type: 'string' },
  event: { type: 'string' },
  'outside-scope': { type: 'boolean' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

export const EVENT_FILTER_HELP = [
  '--session ID          one session (a unique prefix of the id is enough)',
  '--project NAME        project name or absolute path',
  '--tool NAME           tool name, e.g. Bash, Read, mcp__server__tool',
  '--event TYPE          event_type (file_read, command_execution...) or hook event (PreToolUse...)',
  '--outside-scope       only actions that touched paths outside their project',
  '--since T             15m, 2h, 7d, or an ISO time',
  '--until T             same forms as --since (exclusive)',
];

export interface EventFilterValues {
  session?: string | undefined;
  project?: string | undefined;
  tool?: string | undefined;
  event?: string | undefined;
  'outside-scope'?: boolean | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** The store filter the options describe; a session prefix must name one stored session. */
export function eventFilter(values: EventFilterValues, store: Store): Omit<QueryFilter, 'limit' | 'order'> {
  let session = values.session;
  if (session !== undefined) {
    const r = store.resolveSession(session);
    if (r.ambiguous)
      throw new UsageError(`--session ${session} matches several sessions; give more characters`);
    session = r.id ?? session;
  }
  return {
    ...(session ? { session } : {}),
    ...(values.project ? { project: values.project } : {}),
    ...(values.tool ? { tool: values.tool } : {}),
    ...(values.event ? { event: values.event } : {}),
    ...(values['outside-scope'] ? { outsideScope: true } : {}),
    ...(values.since ? { since: parseTime(values.since, '--since') } : {}),
    ...(values.until ? { until: parseTime(values.until, '--until') } : {}),
  };
}
