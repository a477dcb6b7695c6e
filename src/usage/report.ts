/**
 * Token and cost sums over the usage table, grouped by session, agent, project, day or model. Costs are
 * computed when asked, from the price table in force, so a changed `pricing:` applies to all history.
 */
import type { Store } from '../store/index.ts';
import { Pricing, type TokenCounts } from './pricing.ts';

export const COST_GROUPS = ['session', 'agent', 'project', 'day', 'model'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

export interface UsageSum extends TokenCounts {
  /** API responses (usage rows). */
  messages: number;
  /** USD; null when no row had a price. */
  cost: number | null;
  /** Models without a price (their tokens are counted, their cost is not). */
  unpriced: string[];
}

export interface CostLine extends UsageSum {
  key: string;
  /** by agent: the session it belongs to and the agent type, when known. */
  session_id?: string;
  agent_id?: string;
  agent_type?: string | null;
}

export interface CostReport {
  /** Where the figures come from. */
  source: 'transcripts';
  by: CostGroup;
  rows: CostLine[];
  total: UsageSum;
}

const KEY: Record<CostGroup, string> = {
  session: 'u.session_id',
  agent: "u.session_id || '/' || u.agent_id",
  project: "COALESCE(s.project_name, u.project_name, '')",
  day: "strftime('%Y-%m-%d', u.ts / 1000, 'unixepoch')",
  model: 'u.model',
};

export function emptySum(): UsageSum {
  return {
    messages: 0,
    input: 0,
    output: 0,
    cacheCreation: 0,
    cacheCreation1h: 0,
    cacheRead: 0,
    cost: null,
    unpriced: [],
  };
}

interface Grouped {
  k: string;
  model: string;
  session_id: string;
  agent_id: string;
  agent_type: string | null;
  n: number;
  input: number;
  output: number;
  cc: number;
  cc1h: number;
  cr: number;
}

/** Adds one model's sums (and their cost) to `into`. */
export function addModel(into: UsageSum, model: string, t: TokenCounts & { messages: number }, p: Pricing) {
  into.messages += t.messages;
  into.input += t.input;
  into.output += t.output;
  into.cacheCreation += t.cacheCreation;
  into.cacheCreation1h += t.cacheCreation1h;
  into.cacheRead += t.cacheRead;
  const c = p.cost(model, t);
  if (c === undefined) {
    if (!into.unpriced.includes(model)) into.unpriced.push(model);
  } else into.cost = (into.cost ?? 0) + c;
}

const SUMS =
  'count(*) AS n, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cache_creation_tokens) AS cc,' +
  ' sum(cache_creation_1h_tokens) AS cc1h, sum(cache_read_tokens) AS cr';

function counts(r: Grouped) {
  return {
    messages: r.n,
    input: r.input,
    output: r.output,
    cacheCreation: r.cc,
    cacheCreation1h: r.cc1h,
    cacheRead: r.cr,
  };
}

/** Usage and cost grouped by `by`, costliest first. `since`: ms since epoch. */
export function costReport(
  store: Store,
  pricing: Pricing,
  opts: { by?: CostGroup; since?: number; session?: string } = {},
): CostReport {
  const by = opts.by ?? 'session';
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.since !== undefined) {
    where.push('u.ts >= ?');
    params.push(opts.since);
  }
  if (opts.session !== undefined) {
    where.push('u.session_id = ?');
    params.push(opts.session);
  }
  const rows = store
    .select(
      `SELECT ${KEY[by]} AS k, u.model AS model, max(u.session_id) AS session_id, max(u.agent_id) AS agent_id,
         max(u.agent_type) AS agent_type, ${SUMS}
       FROM usage u LEFT JOIN sessions s ON s.session_id = u.session_id
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       GROUP BY k, u.model`,
    )
    .all(...params) as Grouped[];
  const lines = new Map<string, CostLine>();
  const total = emptySum();
  for (const r of rows) {
    let line = lines.get(r.k);
    if (!line) {
      line = { key: r.k, ...emptySum() };
      if (by === 'agent') {
        line.session_id = r.session_id;
        line.agent_id = r.agent_id;
        line.agent_type = r.agent_type;
      }
      lines.set(r.k, line);
    }
    addModel(line, r.model, counts(r), pricing);
    addModel(total, r.model, counts(r), pricing);
  }
  const out = [...lines.values()].sort(
    (a, b) => (b.cost ?? 0) - (a.cost ?? 0) || b.output + b.input - (a.output + a.input),
  );
  return { source: 'transcripts', by, rows: out, total };
}

/** Usage per (session, agent): the sums the fleet views attach to agents. Key `session/agent` ('' = main). */
export function usageByAgent(
  store: Store,
  pricing: Pricing,
  session?: string,
): Map<string, UsageSum & { agent_type: string | null }> {
  const rows = store
    .select(
      `SELECT u.session_id || '/' || u.agent_id AS k, u.model AS model, u.session_id AS session_id,
         u.agent_id AS agent_id, max(u.agent_type) AS agent_type, ${SUMS}
       FROM usage u ${session !== undefined ? 'WHERE u.session_id = ?' : ''}
       GROUP BY u.session_id, u.agent_id, u.model`,
    )
    .all(...(session !== undefined ? [session] : [])) as Grouped[];
  const out = new Map<string, UsageSum & { agent_type: string | null }>();
  for (const r of rows) {
    let s = out.get(r.k);
    if (!s) {
      s = { ...emptySum(), agent_type: r.agent_type };
      out.set(r.k, s);
    }
    addModel(s, r.model, counts(r), pricing);
  }
  return out;
}

export { Pricing };
