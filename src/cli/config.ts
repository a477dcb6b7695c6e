import { existsSync, readFileSync } from 'node:fs';
import { isCollection, parse, parseDocument, stringify } from 'yaml';
import { unifiedDiff, writeFileAtomic } from '../capture/settings.ts';
import { runningPid } from '../collector/control.ts';
import { ConfigError, DEFAULT_CONFIG, loadConfig, parseConfig } from '../config/config.ts';
import { type DataPaths, dataPaths } from '../config/paths.ts';
import { type CommandSpec, type Options, parse as parseArgv, UsageError } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';

const configSpec = {
  name: 'config',
  summary: 'Read, change or check config.yaml: config get KEY | set KEY VALUE [--dry-run] | validate.',
  usage: 'config get <key> | config set <key> <value> [--dry-run] | config validate [--json]',
  options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  positionals: true,
  help: [
    'get KEY               the value in effect (from config.yaml, else the default); KEY as in the file: ingest.batch_size',
    "set KEY VALUE         change one setting, keeping the file's comments and order; VALUE is YAML (500, true, full, null)",
    'validate              check the whole file; exit 1 with the key at fault when it is wrong',
    '--dry-run             with set: show the change as a diff, write nothing',
    '--json                machine-readable output',
  ],
  examples: [
    'claude-telemetry config get retention.events.max_age_days',
    'claude-telemetry config set retention.events.max_age_days 90 --dry-run',
    'claude-telemetry config set capture full',
    'claude-telemetry config validate',
  ],
} satisfies CommandSpec<Options>;

/** `a.b[2].c` -> ['a', 'b', 2, 'c']. */
export function keyPath(key: string): (string | number)[] {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(key)) {
    throw new UsageError(
      `config: "${key}" is not a key; write it as in config.yaml, e.g. ingest.batch_size or sinks[0].url`,
    );
  }
  return key.split(/\.|(?=\[)/).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The defaults as config.yaml would spell them (snake_case keys). */
function defaultsAsYaml(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(defaultsAsYaml);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [snake(k), defaultsAsYaml(x)]));
}

function lookup(root: unknown, path: (string | number)[]): { found: boolean; value: unknown } {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !(p in (v as object)))
      return { found: false, value: undefined };
    v = (v as Record<string | number, unknown>)[p];
  }
  return { found: true, value: v };
}

function readText(paths: DataPaths): string {
  return existsSync(paths.config) ? readFileSync(paths.config, 'utf8') : '';
}

function show(value: unknown): string {
  return value !== null && typeof value === 'object' ? stringify(value).trimEnd() : String(value);
}

export const configCmd: Command = {
  spec: configSpec,
  async run(argv) {
    const { values, positionals } = parseArgv(configSpec, argv);
    const [sub, ...args] = positionals;
    const paths = dataPaths();
    switch (sub) {
      case 'get': {
        if (args.length !== 1)
          throw new UsageError('config get: give one key, e.g. config get ingest.batch_size');
        const path = keyPath(args[0] as string);
        const text = readText(paths);
        const fromFile = lookup(parse(text) ?? {}, path);
        const fromDefaults = lookup(defaultsAsYaml(DEFAULT_CONFIG), path);
        if (!fromFile.found && !fromDefaults.found) {
          throw new UsageError(
            `config get: ${args[0]} is not a setting (see docs/operations.md for the keys)`,
          );
        }
        const value = fromFile.found ? fromFile.value : fromDefaults.value;
        if (values.json)
          printJson({ key: args[0], value, source: fromFile.found ? 'config.yaml' : 'default' });
        else println(show(value));
        return 0;
      }
      case 'set': {
        if (args.length !== 2)
          throw new UsageError('config set: give a key and a value, e.g. config set ingest.batch_size 500');
        const [key, rawValue] = args as [string, string];
        const path = keyPath(key);
        let value: unknown;
        try {
          value = parse(rawValue);
        } catch (err) {
          throw new UsageError(`config set: the value is not YAML: ${(err as Error).message}`);
        }
        const before = readText(paths);
        const doc = parseDocument(before);
        if (doc.errors.length > 0)
          throw new ConfigError(`${paths.config} is not valid YAML: ${doc.errors[0]?.message}`);
        if (doc.contents !== null && !isCollection(doc.contents))
          throw new ConfigError(`${paths.config} must be a YAML mapping`);
        doc.setIn(path, value);
        const after = doc.toString();
        parseConfig(parse(after), 'config.yaml'); // refuses a value the schema does not accept, naming the key
        const diff = unifiedDiff(before, after, 'config.yaml', 'config.yaml');
        if (values['dry-run']) {
          if (values.json) printJson({ dryRun: true, key, value, changed: diff !== '', diff });
          else {
            out.write(diff === '' ? `${key} is already ${show(value)}\n` : diff);
            println('dry run: config.yaml not changed');
          }
          return 0;
        }
        if (diff !== '') writeFileAtomic(paths.config, after, 0o600);
        if (values.json) printJson({ key, value, changed: diff !== '', file: paths.config });
        else {
          println(
            diff === '' ? `${key} is already ${show(value)}` : `${key} = ${show(value)} in ${paths.config}`,
          );
          if (diff !== '' && runningPid(paths) !== undefined)
            println('the collector reads its config at start: claude-telemetry restart');
        }
        return 0;
      }
      case 'validate': {
        if (args.length !== 0) throw new UsageError('config validate takes no arguments');
        const exists = existsSync(paths.config);
        try {
          const config = loadConfig(paths);
          if (values.json) printJson({ ok: true, file: paths.config, exists, config });
          else println(exists ? `${paths.config} is valid` : `no ${paths.config}: the defaults apply`);
          return 0;
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          if (values.json)
            printJson({
              ok: false,
              file: paths.config,
              exists,
              error: { key: err.key ?? null, message: err.message },
            });
          else out.error(`${err.message}\n`);
          return 1;
        }
      }
      default:
        throw new UsageError(
          sub === undefined
            ? 'config: say get, set or validate'
            : `config: unknown subcommand "${sub}" (get, set, validate)`,
        );
    }
  },
};
