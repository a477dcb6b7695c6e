import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A mistake in how a command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  name: string;
  summary: string;
  usage: string;
  options: O;
  /** Lines describing each option, in order, printed by --help. */
  help: string[];
  examples?: string[];
  positionals?: boolean;
}

export function helpText(spec: CommandSpec<Options>): string {
  const lines = [`${spec.summary}`, '', `Usage: claude-telemetry ${spec.usage}`];
  if (spec.help.length > 0) lines.push('', 'Options:', ...spec.help.map((h) => `  ${h}`));
  lines.push('  -h, --help            show this help');
  if (spec.examples && spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return `${lines.join('\n')}\n`;
}

export function parse<O extends Options>(spec: CommandSpec<O>, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: spec.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${spec.name}: ${(err as Error).message}`);
  }
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `15m`, `2h`, `7d` (ago), an ISO date/time, or epoch milliseconds -> epoch ms. */
export function parseTime(value: string, flag: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * (UNITS[rel[2] as string] as number);
  if (/^\d{12,}$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new UsageError(`${flag}: cannot read "${value}"; use a duration like 15m, 2h, 7d or an ISO time`);
  }
  return t;
}

export function parseLimit(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--limit must be a positive integer, got "${value}"`);
  return n;
}
