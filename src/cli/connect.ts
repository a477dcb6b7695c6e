import { resolve } from 'node:path';
import {
  type ConnectTarget,
  connect as connectSettings,
  disconnect as disconnectSettings,
  installHook,
  listOptOuts,
  listProjects,
  optIn,
  optOut,
} from '../capture/index.ts';
import { DEFAULT_GUARD_URL, type OtelSetting } from '../capture/settings.ts';
import { readStatusFile, runningPid } from '../collector/control.ts';
import { loadConfig } from '../config/config.ts';
import { type DataPaths, dataPaths } from '../config/paths.ts';
import { Store } from '../store/index.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, out, printJson, println } from './command.ts';
import { shortTime, table } from './format.ts';

const TARGET_OPTIONS = {
  local: { type: 'boolean' },
  global: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function targetOf(v: { local?: boolean | undefined; global?: boolean | undefined }): ConnectTarget {
  if (v.local && v.global) throw new UsageError('choose one of --local and --global');
  return v.global ? 'global' : v.local ? 'local' : 'project';
}

function projectDirOf(positionals: string[]): string {
  if (positionals.length > 1) throw new UsageError('give at most one project directory');
  return resolve(positionals[0] ?? process.cwd());
}

const connectSpec = {
  name: 'connect',
  summary: 'Register the capture hook for every Claude Code hook event in a project (or globally).',
  usage:
    'connect [dir] [--local | --global] [--guard [--guard-url URL] [--strict] [--fail-closed]] [--otel [--otel-url URL] [--otel-protocol P]] [--dry-run] [--opt-out | --opt-in] [--json]',
  positionals: true,
  options: {
    ...TARGET_OPTIONS,
    'opt-out': { type: 'boolean' },
    'opt-in': { type: 'boolean' },
    guard: { type: 'boolean' },
    'guard-url': { type: 'string' },
    strict: { type: 'boolean' },
    'fail-closed': { type: 'boolean' },
    otel: { type: 'boolean' },
    'otel-url': { type: 'string' },
    'otel-protocol': { type: 'string' },
  },
  help: [
    'dir                   project directory (default: the current directory)',
    '--local               write .claude/settings.local.json (personal, not committed)',
    '--global              write ~/.claude/settings.json: every project, unless it opts out',
    '--dry-run             print the change, write nothing',
    '--opt-out             with a global connection: stop capturing this project',
    '--opt-in              undo --opt-out',
    '--guard               also ask the running collector before each tool call (deny / ask / allow)',
    `--guard-url URL       the collector's API (default ${DEFAULT_GUARD_URL})`,
    '--strict              guard in strict mode: what cannot be verified is denied',
    '--fail-closed         block tool calls while the collector cannot be reached (default: they run)',
    '--otel                also have Claude Code export its own telemetry (OTLP: api_request events with',
    '                      cost and tokens, cost/token metrics) to the collector, through the env block',
    "--otel-url URL        the collector's API (default: the running collector's, else server: in config.yaml)",
    '--otel-protocol P     http/protobuf (default) or http/json',
    '--json                machine-readable result',
  ],
  examples: [
    'claude-telemetry connect',
    'claude-telemetry connect ~/code/api --local --dry-run',
    'claude-telemetry connect --guard --strict',
    'claude-telemetry connect --otel --dry-run',
    'claude-telemetry connect --global && claude-telemetry connect ~/private --opt-out',
  ],
} satisfies CommandSpec<Options>;

export const connect: Command = {
  spec: connectSpec,
  async run(argv) {
    const { values, positionals } = parse(connectSpec, argv);
    const paths = dataPaths();
    const projectDir = projectDirOf(positionals);
    if (values['opt-out'] || values['opt-in']) {
      if (values['opt-out'] && values['opt-in']) throw new UsageError('choose one of --opt-out and --opt-in');
      const changed = values['opt-out'] ? optOut(paths, projectDir) : optIn(paths, projectDir);
      const state = values['opt-out'] ? 'opted out of' : 'opted back in to';
      if (values.json) printJson({ project: projectDir, optedOut: !!values['opt-out'], changed });
      else println(`${projectDir}: ${changed ? state : `already ${state}`} global capture`);
      return 0;
    }
    const target = targetOf(values);
    if (!values.guard && (values['guard-url'] || values.strict || values['fail-closed']))
      throw new UsageError('--guard-url, --strict and --fail-closed go with --guard');
    const guard = values.guard
      ? {
          url: values['guard-url'] ?? DEFAULT_GUARD_URL,
          strict: !!values.strict,
          failClosed: !!values['fail-closed'],
        }
      : undefined;
    if (guard && !/^https?:\/\/[^/]+/.test(guard.url))
      throw new UsageError(
        `--guard-url must be an http(s) URL such as http://127.0.0.1:3100, got "${guard.url}"`,
      );
    const otel = otelSetting(paths, values);
    if (!values['dry-run']) installHook(paths);
    const r = connectSettings({
      paths,
      target,
      projectDir,
      dryRun: !!values['dry-run'],
      ...(guard ? { guard } : {}),
      ...(otel ? { otel } : {}),
    });
    if (values.json) {
      printJson({ ...r, target, project: projectDir, dryRun: !!values['dry-run'] });
      return 0;
    }
    if (values['dry-run']) {
      if (r.changed) out.write(r.diff.endsWith('\n') ? r.diff : `${r.diff}\n`);
      println(
        r.changed ? `(dry run: ${r.file} not written)` : `${r.file} already has our hooks; nothing to do`,
      );
      printOtelDryRun(r.otel);
    } else if (r.changed || r.otel?.changed) {
      println(`connected: hooks for every Claude Code event added to ${r.file}`);
      if (guard)
        println(
          `guard: PreToolUse calls are checked by the collector at ${guard.url}; start it with \`claude-telemetry start\`` +
            (guard.failClosed
              ? ' (tool calls are blocked while it is down)'
              : ' (tool calls run unchecked while it is down)'),
        );
      if (otel && !r.warnings.some((w) => w.startsWith('telemetry export not set')))
        println(
          `otel: Claude Code sends its telemetry (${otel.protocol}) to ${otel.endpoint}/v1/logs and /v1/metrics` +
            ` (env in ${r.otel?.file ?? r.file}: every session of this user); restart running sessions to apply`,
        );
      if (r.otel?.backup) println(`backup of the previous file: ${r.otel.backup}`);
      if (r.backup) println(`backup of the previous file: ${r.backup}`);
    } else {
      println(`already connected: ${r.file}`);
    }
    for (const w of r.warnings) println(`note: ${w}`);
    return 0;
  },
};

const OTEL_PROTOCOLS = ['http/protobuf', 'http/json'] as const;

function printOtelDryRun(o: { file: string; changed: boolean; diff: string } | undefined): void {
  if (!o?.changed) return;
  out.write(o.diff.endsWith('\n') ? o.diff : `${o.diff}\n`);
  println(`(dry run: ${o.file} not written)`);
}

/**
 * Where `--otel` points Claude Code: --otel-url, else the API of the collector running on this data dir, else
 * the API config.yaml describes (server: host and port).
 */
function otelSetting(
  paths: DataPaths,
  values: { otel?: boolean; 'otel-url'?: string; 'otel-protocol'?: string },
): OtelSetting | undefined {
  if (!values.otel) {
    if (values['otel-url'] !== undefined || values['otel-protocol'] !== undefined)
      throw new UsageError('--otel-url and --otel-protocol go with --otel');
    return undefined;
  }
  const protocol = values['otel-protocol'] ?? 'http/protobuf';
  if (!(OTEL_PROTOCOLS as readonly string[]).includes(protocol))
    throw new UsageError(`--otel-protocol must be one of ${OTEL_PROTOCOLS.join(', ')}`);
  let endpoint = values['otel-url'];
  if (endpoint === undefined && runningPid(paths) !== undefined) endpoint = readStatusFile(paths)?.api?.url;
  if (endpoint === undefined) {
    const { server } = loadConfig(paths);
    if (!server.enabled || server.port === 0)
      throw new UsageError(
        '--otel: the collector API has no fixed port (server: in config.yaml); start the collector or give --otel-url',
      );
    endpoint = `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
  }
  if (!/^https?:\/\/[^/]+/.test(endpoint))
    throw new UsageError(
      `--otel-url must be an http(s) URL such as http://127.0.0.1:3100, got "${endpoint}"`,
    );
  return { endpoint: endpoint.replace(/\/+$/, ''), protocol: protocol as (typeof OTEL_PROTOCOLS)[number] };
}

const disconnectSpec = {
  name: 'disconnect',
  summary: 'Remove our hooks (and only ours) from a project or the global settings.',
  usage: 'disconnect [dir] [--local | --global] [--dry-run] [--json]',
  positionals: true,
  options: TARGET_OPTIONS,
  help: [
    'dir                   project directory (default: the current directory)',
    '--local               .claude/settings.local.json',
    '--global              ~/.claude/settings.json',
    '--dry-run             print the change, write nothing',
    '--json                machine-readable result',
  ],
} satisfies CommandSpec<Options>;

export const disconnect: Command = {
  spec: disconnectSpec,
  async run(argv) {
    const { values, positionals } = parse(disconnectSpec, argv);
    const paths = dataPaths();
    const projectDir = projectDirOf(positionals);
    const target = targetOf(values);
    const r = disconnectSettings({ paths, target, projectDir, dryRun: !!values['dry-run'] });
    if (values.json) printJson({ ...r, target, project: projectDir, dryRun: !!values['dry-run'] });
    else if (values['dry-run']) {
      if (r.changed) out.write(r.diff.endsWith('\n') ? r.diff : `${r.diff}\n`);
      println(r.changed ? `(dry run: ${r.file} not written)` : `no hooks of ours in ${r.file}`);
      printOtelDryRun(r.otel);
    } else {
      println(r.changed ? `disconnected: our hooks removed from ${r.file}` : `no hooks of ours in ${r.file}`);
      if (r.otel?.changed) println(`otel: Claude Code's telemetry export removed from ${r.otel.file}`);
    }
    return 0;
  },
};

const projectsSpec = {
  name: 'projects',
  summary: 'List connected projects with the time of their last event.',
  usage: 'projects [--json]',
  options: { json: { type: 'boolean' } },
  help: ['--json                machine-readable output'],
} satisfies CommandSpec<Options>;

export const projects: Command = {
  spec: projectsSpec,
  async run(argv) {
    const { values } = parse(projectsSpec, argv);
    const paths = dataPaths();
    const connected = listProjects(paths);
    const optedOut = listOptOuts(paths);
    let seen: Map<string, { events: number; last_ts: number }> = new Map();
    try {
      const store = Store.open(paths.storeFile, { readonly: true });
      try {
        seen = new Map(
          store.projects().map((p) => [p.project_path ?? '', { events: p.events, last_ts: p.last_ts }]),
        );
      } finally {
        store.close();
      }
    } catch {
      // no store yet: no events
    }
    const rows = connected.map((p) => {
      const s = seen.get(p.path);
      return {
        ...p,
        events: s?.events ?? 0,
        lastEvent: s ? new Date(s.last_ts).toISOString() : null,
        optedOut: optedOut.some((o) => o.path === p.path),
      };
    });
    // Projects with events but no settings file of ours: captured through a global connection (or demo).
    const extra = [...seen.entries()]
      .filter(([path]) => path !== '' && !connected.some((p) => p.path === path))
      .map(([path, s]) => ({ path, events: s.events, lastEvent: new Date(s.last_ts).toISOString() }));
    if (values.json) {
      printJson({ connected: rows, otherProjectsWithEvents: extra, optedOut });
      return 0;
    }
    if (rows.length === 0 && extra.length === 0) {
      println('no connected projects yet: run `claude-telemetry connect` inside a project');
      return 0;
    }
    println(
      table(
        ['project', 'target', 'events', 'last event'],
        [
          ...rows.map((r) => [
            r.path + (r.optedOut ? ' (opted out)' : ''),
            r.target,
            String(r.events),
            r.lastEvent ? shortTime(r.lastEvent) : 'never',
          ]),
          ...extra.map((e) => [e.path, '(not connected)', String(e.events), shortTime(e.lastEvent)]),
        ],
        80,
      ),
    );
    return 0;
  },
};
