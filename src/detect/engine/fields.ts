/**
 * The fields a rule can name, and how each is read from the facts of an event. A rule is evaluated
 * once per subject of its kind (`each: segment|path|net|flow`, or once for the event); event-level
 * fields can be combined with the subject's.
 */
import { basename } from 'node:path';
import type { CommandFacts, Flow, NetFact, PathFact, Segment } from '../facts.ts';
import { tildeForm } from '../paths.ts';

export type FieldValue = string | number | boolean | readonly string[] | undefined;

export type SubjectKind = 'event' | 'segment' | 'path' | 'net' | 'flow';

/** Everything known about one event, before rules run. */
export interface EventFacts {
  event: string;
  tool: string;
  sessionId: string;
  cwd: string;
  projectRoot: string;
  home: string;
  permissionMode: string;
  mode: 'standard' | 'strict';
  tainted: boolean;
  /** String fields of the tool input (`input.url`, `input.pattern`...). */
  input: Record<string, unknown>;
  cmd: CommandFacts | null;
  paths: PathFact[];
  net: NetFact[];
  /** Content the event carries (written text, tool output, prompt); computed on first use. */
  content: () => string;
  /** Secret kinds found in the tool input (redaction rule ids). */
  secrets: readonly string[];
  /** Problems with the input itself (malformed payload, not UTF-8, NUL bytes, too large). */
  inputProblems: readonly string[];
}

export interface Subject {
  ev: EventFacts;
  /** Field values already computed for this subject. */
  memo?: Map<string, FieldValue>;
  seg?: Segment;
  path?: PathFact;
  net?: NetFact;
  flow?: Flow;
}

type Getter = (s: Subject) => FieldValue;

const both = (a: string, b: string): readonly string[] => (a === b ? [a] : [a, b]);

const EVENT_FIELDS: Record<string, Getter> = {
  event: (s) => s.ev.event,
  tool: (s) => s.ev.tool,
  cwd: (s) => s.ev.cwd,
  project: (s) => s.ev.projectRoot,
  permission_mode: (s) => s.ev.permissionMode,
  mode: (s) => s.ev.mode,
  'session.tainted': (s) => s.ev.tainted,
  'cmd.raw': (s) => s.ev.cmd?.raw,
  'cmd.parse_error': (s) => s.ev.cmd?.parseError ?? false,
  'cmd.oversized': (s) => s.ev.cmd?.oversized ?? false,
  'cmd.too_deep': (s) => s.ev.cmd?.tooDeep ?? false,
  'cmd.dynamic': (s) => s.ev.cmd?.dynamic ?? false,
  'cmd.fallback_only': (s) => s.ev.cmd?.fallbackOnly ?? false,
  'cmd.argv0s': (s) => s.ev.cmd?.segments.map((g) => g.argv0) ?? [],
  'content.text': (s) => s.ev.content(),
  secrets: (s) => s.ev.secrets,
  'input.problems': (s) => s.ev.inputProblems,
};

const SEGMENT_FIELDS: Record<string, (g: Segment) => FieldValue> = {
  'seg.argv0': (g) => g.argv0,
  'seg.path0': (g) => g.path0,
  'seg.args': (g) => g.args,
  'seg.line': (g) => [g.argv0, ...g.args].join(' '),
  'seg.flags': (g) => g.flags,
  'seg.operands': (g) => g.operands,
  'seg.sub': (g) => g.sub,
  'seg.sub2': (g) => g.sub2,
  'seg.wrappers': (g) => g.wrappers,
  'seg.via': (g) => g.via,
  'seg.dynamic_argv0': (g) => g.dynamicArgv0,
  'seg.dynamic_args': (g) => g.dynamicArgs,
  'seg.writes': (g) => g.writes,
  'seg.reads': (g) => g.reads,
  'seg.stdin': (g) => g.stdin,
  'seg.pipe_from': (g) => g.pipeFrom,
  'seg.pipe_to': (g) => g.pipeTo,
  'seg.env': (g) => g.env,
  'seg.code': (g) => g.code,
  'seg.depth': (g) => g.depth,
};

const PATH_FIELDS: Record<string, (p: PathFact, home: string) => FieldValue> = {
  'path.raw': (p) => p.raw,
  'path.canonical': (p) => both(p.canonical, p.real),
  'path.tilde': (p, home) => both(tildeForm(p.canonical, home), tildeForm(p.real, home)),
  'path.basename': (p) => both(basename(p.canonical), basename(p.real)),
  'path.access': (p) => p.access,
  'path.source': (p) => p.source,
  'path.glob': (p) => p.glob,
  'path.dynamic': (p) => p.dynamic,
  'path.cmd': (p) => p.cmd,
  'path.flags': (p) => p.flags,
  'path.sub': (p) => p.sub,
  'path.via': (p) => p.via,
  'path.in_project': (p) => p.inProject,
  'path.in_temp': (p) => p.inTemp,
};

const NET_FIELDS: Record<string, (n: NetFact, home: string) => FieldValue> = {
  'net.tool': (n) => n.tool,
  'net.url': (n) => n.url,
  'net.host': (n) => n.host,
  'net.port': (n) => n.port,
  'net.local': (n) => n.local,
  'net.uploads': (n) => n.uploads,
  'net.uploads_tilde': (n, home) => n.uploads.map((u) => tildeForm(u, home)),
  'net.uploads_stdin': (n) => n.uploadsStdin,
  'net.has_upload': (n) => n.uploads.length > 0 || n.uploadsStdin,
  'net.data': (n) => n.data,
  'net.secret': (n) => n.secretInRequest,
};

const FLOW_FIELDS: Record<string, (f: Flow, home: string) => FieldValue> = {
  'flow.sink': (f) => f.sink,
  'flow.sink_kind': (f) => f.sinkKind,
  'flow.sink_local': (f) => f.sinkLocal,
  'flow.source_kinds': (f) => f.sources.map((x) => x.kind),
  'flow.source_values': (f) => f.sources.map((x) => x.value),
  'flow.source_paths': (f, home) =>
    f.sources.filter((x) => x.kind === 'path').flatMap((x) => [x.value, tildeForm(x.value, home)]),
};

/** The subject kind a field belongs to, or null for an unknown field. */
export function fieldKind(name: string): SubjectKind | null {
  if (name in EVENT_FIELDS || name.startsWith('input.')) return 'event';
  if (name in SEGMENT_FIELDS) return 'segment';
  if (name in PATH_FIELDS) return 'path';
  if (name in NET_FIELDS) return 'net';
  if (name in FLOW_FIELDS) return 'flow';
  return null;
}

export function knownFields(): string[] {
  return [
    ...Object.keys(EVENT_FIELDS),
    'input.<key>',
    ...Object.keys(SEGMENT_FIELDS),
    ...Object.keys(PATH_FIELDS),
    ...Object.keys(NET_FIELDS),
    ...Object.keys(FLOW_FIELDS),
  ];
}

/** A reader for one field; undefined when the subject does not carry it. Values are memoized per subject. */
export function fieldGetter(name: string): Getter {
  const get = rawGetter(name);
  return (s) => {
    s.memo ??= new Map();
    if (s.memo.has(name)) return s.memo.get(name);
    const v = get(s);
    s.memo.set(name, v);
    return v;
  };
}

function rawGetter(name: string): Getter {
  const ev = EVENT_FIELDS[name];
  if (ev) return ev;
  if (name.startsWith('input.')) {
    const key = name.slice(6);
    return (s) => {
      const v = s.ev.input[key];
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
    };
  }
  const seg = SEGMENT_FIELDS[name];
  if (seg) return (s) => (s.seg ? seg(s.seg) : undefined);
  const path = PATH_FIELDS[name];
  if (path) return (s) => (s.path ? path(s.path, s.ev.home) : undefined);
  const net = NET_FIELDS[name];
  if (net) return (s) => (s.net ? net(s.net, s.ev.home) : undefined);
  const flow = FLOW_FIELDS[name];
  if (flow) return (s) => (s.flow ? flow(s.flow, s.ev.home) : undefined);
  throw new Error(`unknown field "${name}"`);
}

/** A short description of the subject, for reasons ("rm -rf /", "~/.ssh/id_rsa", "webhook.site"). */
export function describeSubject(s: Subject): string {
  if (s.seg) {
    const line = [s.seg.argv0 || s.seg.path0, ...s.seg.args].join(' ');
    return line.length > 120 ? `${line.slice(0, 117)}...` : line;
  }
  if (s.path) return tildeForm(s.path.canonical, s.ev.home);
  if (s.net) return s.net.host || s.net.url || s.net.tool;
  if (s.flow) {
    const from = s.flow.sources
      .filter((x) => x.kind !== 'literal')
      .map((x) => (x.kind === 'path' ? tildeForm(x.value, s.ev.home) : x.kind))
      .slice(0, 3)
      .join(', ');
    return `${from || 'data'} -> ${s.flow.sink}`;
  }
  return s.ev.tool || s.ev.event;
}
