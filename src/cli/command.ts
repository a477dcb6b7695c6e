import type { CommandSpec, Options } from './args.ts';

export interface Command {
  spec: CommandSpec<Options>;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Output sinks, swappable in tests. */
export const out = {
  write: (s: string) => process.stdout.write(s),
  error: (s: string) => process.stderr.write(s),
};

export function println(s = ''): void {
  out.write(`${s}\n`);
}

export function printJson(v: unknown): void {
  out.write(`${JSON.stringify(v, null, 2)}\n`);
}
