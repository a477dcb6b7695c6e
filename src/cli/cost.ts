import { loadConfig } from '../config/config.ts';
import { dataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { Pricing } from '../usage/pricing.ts';
import {
  COST_GROUPS,
  type CostGroup,
  type CostReport,
  costReport,
  type MetricSum,
  type UsageSum,
} from '../usage/report.ts';
import { type CommandSpec, type Options, parse, parseTime, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { table } from './format.ts';

const costSpec = {
  name: 'cost',
  summary:
    "Tokens and cost from transcripts and Claude Code's OTLP export, by session, agent, project, day or model.",
  usage: 'cost [--by session|agent|project|day|model] [--since T] [--session ID] [--json]',
  options: {
    by: { type: 'string' },
    since: { type: 'string' },
    session: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: [
    '--by G                session (default), agent, project, day (UTC) or model',
    '--since T             usage from this long ago (15m, 2h, 7d) or an ISO time on',
    '--session ID          one session (a unique prefix of the id is enough)',
    '--json                the report as JSON',
  ],
  examples: ['claude-telemetry cost --by project --since 7d', 'claude-telemetry cost --by model --json'],
} satisfies CommandSpec<Options>;

export const fmtTokens = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);

/** `$1.2345`, or `?` when nothing had a price, with a `+?` when some models had none. */
export function fmtCost(s: Pick<UsageSum, 'cost' | 'unpriced'>): string {
  if (s.cost === null) return s.unpriced.length > 0 ? '?' : '-';
  return `$${s.cost.toFixed(4)}${s.unpriced.length > 0 ? '+?' : ''}`;
}

export const cost: Command = {
  spec: costSpec,
  async run(argv) {
    const { values } = parse(costSpec, argv);
    const by = (values.by ?? 'session') as CostGroup;
    if (!COST_GROUPS.includes(by)) throw new UsageError(`--by must be one of ${COST_GROUPS.join(', ')}`);
    const paths = dataPaths();
    const pricing = new Pricing(loadConfig(paths).pricing);
    const store = Store.open(paths.storeFile);
    try {
      let session: string | undefined;
      if (values.session !== undefined) {
        const r = store.resolveSession(values.session);
        session = r.id ?? values.session;
      }
      const report = costReport(store, pricing, {
        by,
        ...(values.since !== undefined ? { since: parseTime(values.since, '--since') } : {}),
        ...(session !== undefined ? { session } : {}),
      });
      if (values.json) {
        printJson(report);
        return 0;
      }
      if (report.rows.length === 0) {
        println(
          'no token usage stored yet: run `claude-telemetry import`, let the collector follow sessions, or' +
            ' `claude-telemetry connect --otel`',
        );
        return 0;
      }
      const row = (key: string, s: UsageSum) => [
        key,
        String(s.messages),
        fmtTokens(s.input),
        fmtTokens(s.output),
        fmtTokens(s.cacheCreation),
        fmtTokens(s.cacheRead),
        fmtCost(s),
        s.source ?? '-',
      ];
      println(
        table(
          [by, 'requests', 'input', 'output', 'cache write', 'cache read', 'cost', 'source'],
          [
            ...report.rows.map((r) =>
              row(
                by === 'agent'
                  ? `${r.session_id?.slice(0, 8)}/${r.agent_id || 'main'}${r.agent_type ? ` (${r.agent_type})` : ''}`
                  : r.key || '(none)',
                r,
              ),
            ),
            row('total', report.total),
          ],
          70,
        ),
      );
      println('');
      for (const line of sourceNotes(report)) println(line);
      if (report.total.unpriced.length > 0)
        println(`no price for: ${report.total.unpriced.join(', ')} (add them under pricing: in config.yaml)`);
      return 0;
    } finally {
      store.close();
    }
  },
};

const fmtUsd = (n: number | null | undefined) => (n === null || n === undefined ? '-' : `$${n.toFixed(4)}`);

function metricLine(m: MetricSum): string {
  return `${fmtUsd(m.cost_usd)}, ${fmtTokens(m.input)} input, ${fmtTokens(m.output)} output, ${fmtTokens(m.cacheCreation)} cache write, ${fmtTokens(m.cacheRead)} cache read`;
}

/** What the figures are made of: each source's own totals, Claude Code's reported cost, the metrics. */
export function sourceNotes(report: CostReport): string[] {
  const t = report.total;
  const out = [
    'source: transcript (message.usage) and otel (Claude Code api_request events), each API request counted once' +
      ' (matched by request id); cost at list prices unless config.yaml sets pricing:',
  ];
  const tr = t.sources?.transcript;
  const ot = t.sources?.otel;
  if (tr)
    out.push(
      `  transcript: ${tr.messages} requests, ${fmtTokens(tr.input + tr.output)} tokens in/out, ${fmtCost(tr)}`,
    );
  if (ot)
    out.push(
      `  otel:       ${ot.messages} requests, ${fmtTokens(ot.input + ot.output)} tokens in/out, ${fmtCost(ot)} (Claude Code reported ${fmtUsd(ot.reported_cost_usd)})`,
    );
  if (report.metrics)
    out.push(`  otel metrics (claude_code.cost.usage / token.usage): ${metricLine(report.metrics)}`);
  return out;
}
