/**
 * Behavioural features of a group of events (a session, one agent of a session, or an hour window),
 * computed in one pass over the stored events in time order. docs/analytics.md gives each formula.
 *
 * Everything here reads fields the normalizer and the security engine really write (tool_name,
 * hook_event, action_details.{file_path, search_path, command, url, outside_project_scope, outside_paths},
 * tool_use_id, duration_ms, success, agent_id, detections), so no feature is constant by construction.
 */
import type { TelemetryEvent } from '../types.ts';

/** How a value is shown in an explanation. */
export type FeatureKind = 'count' | 'ratio' | 'ms' | 'minutes' | 'rate' | 'hour' | 'score';

export interface FeatureDef {
  name: string;
  /** Words for explanations: "38 <label>". */
  label: string;
  kind: FeatureKind;
  /** Counts and durations are compared on a log scale by the forest (log1p); ratios as they are. */
  log: boolean;
  /** Excluded from the anomaly model (kept for display): describes when, not what. */
  display?: boolean;
}

export const FEATURES: readonly FeatureDef[] = [
  { name: 'events', label: 'events', kind: 'count', log: true },
  { name: 'tool_calls', label: 'tool calls', kind: 'count', log: true },
  { name: 'session_minutes', label: 'minutes long', kind: 'minutes', log: true },
  { name: 'calls_per_minute', label: 'tool calls per minute', kind: 'rate', log: true },
  { name: 'peak_calls_per_minute', label: 'tool calls in the busiest minute', kind: 'count', log: true },
  { name: 'burstiness', label: 'burstiness', kind: 'score', log: false },
  { name: 'read_share', label: 'share of reads and searches', kind: 'ratio', log: false },
  { name: 'edit_share', label: 'share of writes and edits', kind: 'ratio', log: false },
  { name: 'bash_share', label: 'share of Bash calls', kind: 'ratio', log: false },
  { name: 'web_share', label: 'share of web calls', kind: 'ratio', log: false },
  { name: 'write_read_ratio', label: 'writes per read', kind: 'rate', log: true },
  { name: 'distinct_files', label: 'distinct files', kind: 'count', log: true },
  { name: 'distinct_dirs', label: 'distinct directories', kind: 'count', log: true },
  { name: 'outside_scope_count', label: 'actions outside the project', kind: 'count', log: true },
  { name: 'outside_scope_ratio', label: 'share of actions outside the project', kind: 'ratio', log: false },
  { name: 'distinct_commands', label: 'distinct programs run', kind: 'count', log: true },
  { name: 'failed_share', label: 'share of failed tool calls', kind: 'ratio', log: false },
  { name: 'error_bursts', label: 'bursts of 3+ failures in a row', kind: 'count', log: true },
  { name: 'duration_mean_ms', label: 'ms mean tool duration', kind: 'ms', log: true },
  { name: 'duration_p95_ms', label: 'ms p95 tool duration', kind: 'ms', log: true },
  { name: 'subagents', label: 'subagents', kind: 'count', log: true },
  { name: 'web_requests', label: 'web requests', kind: 'count', log: true },
  { name: 'distinct_domains', label: 'distinct domains', kind: 'count', log: true },
  { name: 'new_domains', label: 'domains never seen before', kind: 'count', log: true },
  { name: 'network_commands', label: 'network commands (curl, scp, nc...)', kind: 'count', log: true },
  { name: 'sensitive_touches', label: 'touches of sensitive files', kind: 'count', log: true },
  { name: 'delete_commands', label: 'delete commands', kind: 'count', log: true },
  { name: 'repeated_call_share', label: 'share of repeated identical calls', kind: 'ratio', log: false },
  { name: 'rule_hits_critical', label: 'critical rule hits', kind: 'count', log: true },
  { name: 'rule_hits_high', label: 'high rule hits', kind: 'count', log: true },
  { name: 'rule_hits_medium', label: 'medium rule hits', kind: 'count', log: true },
  { name: 'rule_hits_low', label: 'low or info rule hits', kind: 'count', log: true },
  { name: 'prompts', label: 'prompts', kind: 'count', log: true },
  { name: 'calls_per_prompt', label: 'tool calls per prompt', kind: 'rate', log: true },
  { name: 'hour_of_day', label: 'hour of day', kind: 'hour', log: false, display: true },
];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((f) => f.name);
export const FEATURE_INDEX: ReadonlyMap<string, number> = new Map(FEATURE_NAMES.map((n, i) => [n, i]));
/** The features the anomaly model sees (all but the display-only ones), as indexes into FEATURES. */
export const MODEL_FEATURES: readonly number[] = FEATURES.flatMap((f, i) => (f.display ? [] : [i]));

export type FeatureVector = Record<string, number>;

const READ_TOOLS = new Set(['Read', 'Grep', 'Glob', 'LS', 'NotebookRead', 'LSP']);
const EDIT_TOOLS = new Set(['Write', 'Edit', 'MultiEdit', 'NotebookEdit']);
const BASH_TOOLS = new Set(['Bash', 'PowerShell']);
const WEB_TOOLS = new Set(['WebFetch', 'WebSearch']);
const AGENT_TOOLS = new Set(['Agent', 'Task']);
const POST_EVENTS = new Set(['PostToolUse', 'PostToolUseFailure']);

/** Files whose reading or writing is worth a look: keys, credentials, environment files, system accounts. */
export const SENSITIVE_PATH =
  /(?:^|[/\s'"=])(?:\.env(?:\.[\w-]+)?|\.netrc|\.npmrc|\.pypirc|\.pgpass|\.git-credentials|\.htpasswd|id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?|credentials(?:\.json)?|secrets?\.(?:ya?ml|json|env))(?=$|[\s'";|&)])|\.ssh\/|\.aws\/|\.gnupg\/|\.kube\/config|\.docker\/config\.json|\/etc\/(?:passwd|shadow|sudoers|gshadow)\b|\.pem\b|\.p12\b|[Kk]eychain/;

const DELETE_COMMAND =
  /(?:^|[\s;&|(`])(?:sudo\s+)?(?:rm|rmdir|unlink|shred|srm)\s|(?:^|\s)-delete\b|\bgit\s+clean\b/;
const NETWORK_COMMAND =
  /(?:^|[\s;&|(`])(?:curl|wget|nc|ncat|netcat|scp|sftp|rsync|ssh|ftp|telnet|socat|http|https)(?=\s|$)|\/dev\/tcp\//;
const URL_HOST = /\bhttps?:\/\/([A-Za-z0-9.-]+)/g;
const PROGRAM_SKIP = new Set(['sudo', 'env', 'time', 'nohup', 'nice', 'timeout', 'command', 'exec', 'xargs']);

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Program names a Bash command runs: the first word of each `;`, `&&`, `||`, `|` segment, wrappers skipped. */
export function programsOf(command: string): string[] {
  const out: string[] = [];
  for (const seg of command.split(/;|&&|\|\||\||\n/)) {
    const words = seg.trim().split(/\s+/);
    for (const w of words) {
      if (w === '' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w) || PROGRAM_SKIP.has(w) || w.startsWith('-'))
        continue;
      const name = w.replace(/^[('"`$]+|[)'"`]+$/g, '');
      const base = name.slice(name.lastIndexOf('/') + 1);
      if (base !== '') out.push(base);
      break;
    }
  }
  return out;
}

/** Host names in the URLs of a text, lower-cased. */
export function hostsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(URL_HOST)) if (m[1]) out.push(m[1].toLowerCase().replace(/\.$/, ''));
  return out;
}

/** Goh and Barabasi's burstiness of the gaps between calls: (sd - mean) / (sd + mean), in [-1, 1]. */
export function burstiness(times: readonly number[]): number {
  if (times.length < 3) return 0;
  let sum = 0;
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) {
    const g = (times[i] as number) - (times[i - 1] as number);
    gaps.push(g);
    sum += g;
  }
  const mean = sum / gaps.length;
  let v = 0;
  for (const g of gaps) v += (g - mean) ** 2;
  const sd = Math.sqrt(v / gaps.length);
  return sd + mean === 0 ? 0 : (sd - mean) / (sd + mean);
}

/** Nearest-rank percentile of unsorted values (0 for none). */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i] as number;
}

/** What the accumulator needs besides the events: the domains the user's history already knows. */
export interface FeatureContext {
  knownDomains?: ReadonlySet<string>;
}

type Severity = 'critical' | 'high' | 'medium' | 'low';

/** What a tool call (PreToolUse) brings to the features. */
interface CallFacts {
  kind: 'read' | 'edit' | 'bash' | 'web' | 'agent' | 'other';
  toolUseId: string | undefined;
  outside: boolean;
  file: string | undefined;
  /** The file's directory and the search path, when there are. */
  dirs: string[];
  programs: string[];
  delete: boolean;
  network: boolean;
  hosts: string[];
  sensitive: boolean;
  /** (tool, target), for repeated identical calls. */
  key: string;
}

/**
 * What one event brings to the features, worked out once: an event feeds its session, its agent and its
 * hour window, and the text tests (paths, commands, URLs) are the costly part.
 */
export interface EventFacts {
  /** Event time (ms; 0 when unparsable). */
  t: number;
  agent: string | undefined;
  severities: Severity[];
  prompt: boolean;
  call: CallFacts | undefined;
  post: { failed: boolean; toolUseId: string | undefined; durationMs: number | undefined } | undefined;
}

function kindOf(tool: string): CallFacts['kind'] {
  if (READ_TOOLS.has(tool)) return 'read';
  if (EDIT_TOOLS.has(tool)) return 'edit';
  if (BASH_TOOLS.has(tool)) return 'bash';
  if (WEB_TOOLS.has(tool)) return 'web';
  return AGENT_TOOLS.has(tool) ? 'agent' : 'other';
}

function callFacts(e: TelemetryEvent): CallFacts {
  const tool = e.tool_name ?? '';
  const d = e.action_details ?? {};
  const texts: string[] = [];
  const dirs: string[] = [];
  let file: string | undefined;
  for (const key of ['file_path', 'search_path'] as const) {
    const p = d[key];
    if (typeof p === 'string' && p !== '') {
      texts.push(p);
      // A file's directory counts as a directory touched; a search path is a directory itself.
      if (key === 'file_path') {
        file = p;
        dirs.push(dirOf(p));
      } else dirs.push(p);
    }
  }
  if (Array.isArray(d.outside_paths))
    for (const p of d.outside_paths) if (typeof p === 'string') texts.push(p);
  const command = typeof d.command === 'string' ? d.command : '';
  if (command !== '') texts.push(command);
  const url = typeof d.url === 'string' ? d.url : '';
  const target = command || (d.file_path as string | undefined) || url || d.search_pattern || d.query || '';
  return {
    kind: kindOf(tool),
    toolUseId: typeof e.tool_use_id === 'string' ? e.tool_use_id : undefined,
    outside: d.outside_project_scope === true,
    file,
    dirs,
    programs: command === '' ? [] : programsOf(command),
    delete: command !== '' && DELETE_COMMAND.test(command),
    network: command !== '' && NETWORK_COMMAND.test(command),
    hosts: hostsOf(`${url} ${command}`),
    sensitive: texts.some((x) => SENSITIVE_PATH.test(x)),
    key: `${tool}\u0000${String(target)}`,
  };
}

export function factsOf(e: TelemetryEvent): EventFacts {
  const ts = Date.parse(e.timestamp);
  const severities: Severity[] = [];
  for (const d of e.detections ?? []) {
    const s = d.severity;
    severities.push(s === 'critical' || s === 'high' || s === 'medium' ? s : 'low');
  }
  const hook = e.hook_event;
  const isPost = POST_EVENTS.has(hook);
  return {
    t: Number.isFinite(ts) ? ts : 0,
    agent: typeof e.agent_id === 'string' && e.agent_id !== '' ? e.agent_id : undefined,
    severities,
    prompt: hook === 'UserPromptSubmit',
    call: hook === 'PreToolUse' ? callFacts(e) : undefined,
    post: isPost
      ? {
          failed: hook === 'PostToolUseFailure' || e.success === false,
          toolUseId: typeof e.tool_use_id === 'string' ? e.tool_use_id : undefined,
          durationMs:
            typeof e.duration_ms === 'number' && Number.isFinite(e.duration_ms) && e.duration_ms >= 0
              ? e.duration_ms
              : undefined,
        }
      : undefined,
  };
}

/** Feature state of one group of events, fed one event at a time in time order. */
export class FeatureAccumulator {
  first = Number.POSITIVE_INFINITY;
  last = Number.NEGATIVE_INFINITY;
  events = 0;
  private toolCalls = 0;
  private prompts = 0;
  private posts = 0;
  private failures = 0;
  private failRun = 0;
  private errorBursts = 0;
  private reads = 0;
  private edits = 0;
  private bash = 0;
  private web = 0;
  private agentCalls = 0;
  private outside = 0;
  private sensitive = 0;
  private deletes = 0;
  private netCommands = 0;
  private webRequests = 0;
  private readonly callTimes: number[] = [];
  private readonly perMinute = new Map<number, number>();
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();
  private readonly programs = new Set<string>();
  /** Every domain of the group; `domains()` reads it to update a baseline's known domains. */
  readonly domainSet = new Set<string>();
  private readonly agents = new Set<string>();
  private readonly callKeys = new Set<string>();
  private readonly pending = new Map<string, number>();
  private readonly durations: number[] = [];
  private readonly severity = { critical: 0, high: 0, medium: 0, low: 0 };

  add(e: TelemetryEvent): void {
    this.addFacts(factsOf(e));
  }

  /** Adds an event from its facts (see factsOf), for callers feeding one event to several groups. */
  addFacts(f: EventFacts): void {
    const t = f.t;
    this.events++;
    if (t < this.first) this.first = t;
    if (t > this.last) this.last = t;
    if (f.agent !== undefined) this.agents.add(f.agent);
    for (const s of f.severities) this.severity[s]++;
    if (f.prompt) this.prompts++;
    else if (f.call) this.pre(f.call, t);
    else if (f.post) this.post(f.post, t);
  }

  private pre(c: CallFacts, t: number): void {
    this.toolCalls++;
    this.callTimes.push(t);
    const minute = Math.floor(t / 60_000);
    this.perMinute.set(minute, (this.perMinute.get(minute) ?? 0) + 1);
    if (c.toolUseId !== undefined) this.pending.set(c.toolUseId, t);
    if (c.kind === 'read') this.reads++;
    else if (c.kind === 'edit') this.edits++;
    else if (c.kind === 'bash') this.bash++;
    else if (c.kind === 'web') {
      this.web++;
      this.webRequests++;
    } else if (c.kind === 'agent') this.agentCalls++;
    if (c.outside) this.outside++;
    if (c.file !== undefined) this.files.add(c.file);
    for (const d of c.dirs) this.dirs.add(d);
    for (const p of c.programs) this.programs.add(p);
    if (c.delete) this.deletes++;
    if (c.network) {
      this.netCommands++;
      this.webRequests++;
    }
    for (const h of c.hosts) this.domainSet.add(h);
    if (c.sensitive) this.sensitive++;
    this.callKeys.add(c.key);
  }

  private post(p: NonNullable<EventFacts['post']>, t: number): void {
    this.posts++;
    if (p.failed) {
      this.failures++;
      this.failRun++;
      if (this.failRun === 3) this.errorBursts++;
    } else this.failRun = 0;
    const started = p.toolUseId === undefined ? undefined : this.pending.get(p.toolUseId);
    if (p.toolUseId !== undefined) this.pending.delete(p.toolUseId);
    if (p.durationMs !== undefined) this.durations.push(p.durationMs);
    else if (started !== undefined) this.durations.push(Math.max(0, t - started));
  }

  /** The feature values, by name (see FEATURES). */
  vector(ctx: FeatureContext = {}): FeatureVector {
    const calls = this.toolCalls;
    const share = (n: number) => (calls === 0 ? 0 : n / calls);
    const minutes = this.events === 0 ? 0 : (this.last - this.first) / 60_000;
    let peak = 0;
    for (const n of this.perMinute.values()) if (n > peak) peak = n;
    let durSum = 0;
    for (const d of this.durations) durSum += d;
    let fresh = 0;
    for (const h of this.domainSet) if (!ctx.knownDomains?.has(h)) fresh++;
    const hour = this.events === 0 ? 0 : new Date(this.first).getHours();
    return {
      events: this.events,
      tool_calls: calls,
      session_minutes: minutes,
      calls_per_minute: calls / Math.max(1, minutes),
      peak_calls_per_minute: peak,
      burstiness: burstiness(this.callTimes),
      read_share: share(this.reads),
      edit_share: share(this.edits),
      bash_share: share(this.bash),
      web_share: share(this.web),
      write_read_ratio: this.edits / (this.reads + 1),
      distinct_files: this.files.size,
      distinct_dirs: this.dirs.size,
      outside_scope_count: this.outside,
      outside_scope_ratio: share(this.outside),
      distinct_commands: this.programs.size,
      failed_share: this.posts === 0 ? 0 : this.failures / this.posts,
      error_bursts: this.errorBursts,
      duration_mean_ms: this.durations.length === 0 ? 0 : durSum / this.durations.length,
      duration_p95_ms: percentileOf(this.durations, 95),
      subagents: Math.max(this.agents.size, this.agentCalls),
      web_requests: this.webRequests,
      distinct_domains: this.domainSet.size,
      new_domains: fresh,
      network_commands: this.netCommands,
      sensitive_touches: this.sensitive,
      delete_commands: this.deletes,
      repeated_call_share: calls === 0 ? 0 : 1 - this.callKeys.size / calls,
      rule_hits_critical: this.severity.critical,
      rule_hits_high: this.severity.high,
      rule_hits_medium: this.severity.medium,
      rule_hits_low: this.severity.low,
      prompts: this.prompts,
      calls_per_prompt: calls / Math.max(1, this.prompts),
      hour_of_day: hour,
    };
  }
}

/** Features of one list of events (sorted here by time). */
export function featuresOf(events: readonly TelemetryEvent[], ctx: FeatureContext = {}): FeatureVector {
  const acc = new FeatureAccumulator();
  for (const e of sortByTime(events)) acc.add(e);
  return acc.vector(ctx);
}

/** Events in time order (stable: events of one time keep their order); each time parsed once. */
export function sortByTime(events: readonly TelemetryEvent[]): TelemetryEvent[] {
  return events
    .map((e, i) => ({ e, t: Date.parse(e.timestamp), i }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.e);
}

/** The agent an event belongs to: its subagent id, or `main` for the session's own agent. */
export function agentOf(e: TelemetryEvent): string {
  return typeof e.agent_id === 'string' && e.agent_id !== '' ? e.agent_id : 'main';
}

/** Features per agent of one session's events (`main` is the session's own agent). */
export function agentFeatures(
  events: readonly TelemetryEvent[],
  ctx: FeatureContext = {},
): Map<string, FeatureVector> {
  return groupFeatures(events, agentOf, ctx);
}

/** The clock hour a time (ms) falls in: floor(t / 1 h) x 1 h, as an ISO time. */
function hourKey(t: number): string {
  return new Date(Math.floor(t / 3_600_000) * 3_600_000).toISOString();
}

/** The clock hour an event falls in. */
export function hourOf(e: TelemetryEvent): string {
  return hourKey(Date.parse(e.timestamp) || 0);
}

/** Features per clock hour (key: the hour's start, ISO) of a list of events. */
export function hourlyFeatures(
  events: readonly TelemetryEvent[],
  ctx: FeatureContext = {},
): Map<string, FeatureVector> {
  return groupFeatures(events, hourOf, ctx);
}

function accumulatorOf(groups: Map<string, FeatureAccumulator>, key: string): FeatureAccumulator {
  let acc = groups.get(key);
  if (!acc) {
    acc = new FeatureAccumulator();
    groups.set(key, acc);
  }
  return acc;
}

function groupFeatures(
  events: readonly TelemetryEvent[],
  key: (e: TelemetryEvent) => string,
  ctx: FeatureContext,
): Map<string, FeatureVector> {
  const groups = new Map<string, FeatureAccumulator>();
  for (const e of sortByTime(events)) accumulatorOf(groups, key(e)).add(e);
  return new Map([...groups].map(([k, acc]) => [k, acc.vector(ctx)]));
}

/**
 * Feature state of one session: the session as a whole, each of its agents and (unless `hours` is false)
 * each clock hour, fed one event at a time. Kept between events by the collector's scorer, so that a
 * session in progress is scored again without reading its events again.
 */
export class SessionAccumulator {
  readonly session = new FeatureAccumulator();
  readonly agents = new Map<string, FeatureAccumulator>();
  readonly hours = new Map<string, FeatureAccumulator>();
  project = '';

  constructor(private readonly withHours = true) {}

  add(e: TelemetryEvent): void {
    if (this.project === '' && e.project_name) this.project = e.project_name;
    const f = factsOf(e);
    this.session.addFacts(f);
    accumulatorOf(this.agents, f.agent ?? 'main').addFacts(f);
    if (this.withHours) accumulatorOf(this.hours, hourKey(f.t)).addFacts(f);
  }
}

/** A feature vector as numbers in FEATURES order. */
export function toArray(v: FeatureVector): number[] {
  return FEATURE_NAMES.map((n) => v[n] ?? 0);
}
