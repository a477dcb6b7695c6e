/**
 * The detection engine: request -> facts -> rules -> verdict. One instance per process holds the bash
 * parser, the layered rule set (shipped + user + per-project), a short-lived cache of command
 * analyses (the Pre and Post events of one call carry the same command) and the session state that
 * stateful rules need.
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactString } from '../ingest/redact.ts';
import { ScopeCache } from '../ingest/scope.ts';
import { describeSubject, type EventFacts, type Subject } from './engine/fields.ts';
import {
  type Action,
  actionRank,
  type CompiledRule,
  loadRuleSet,
  type RuleSet,
  yamlFilesIn,
} from './engine/ruleset.ts';
import type { Access, CommandFacts, NetFact, PathFact } from './facts.ts';
import { type DetectRequest, secretsIn } from './input.ts';
import { globMatcher, pathFact } from './paths.ts';
import { analyzeCommand, hostOf, urlCarriesSecret } from './shell/analyze.ts';
import { isLocalHost } from './shell/commands.ts';
import { type BashParser, bashParserIfReady, loadBashParser } from './shell/grammar.ts';
import { SessionState } from './state.ts';

export type Mode = 'standard' | 'strict';
export type Decision = 'allow' | 'ask' | 'deny';

/** One rule hit as stored with an event and shown to users. */
export interface Detection {
  rule: string;
  title: string;
  severity: string;
  action: Action;
  reason: string;
  mitre: string[];
}

export interface Verdict {
  decision: Decision;
  /** Strictest action of all hits, or 'none'. */
  action: Action | 'none';
  detections: Detection[];
  tainted: boolean;
}

export interface EngineOptions {
  home?: string;
  /** A ready rule set (tests, `rules` CLI); else shipped rules + `userRulesDir`. */
  ruleSet?: RuleSet;
  /** `<data dir>/rules`; null for none. */
  userRulesDir?: string | null;
  /** Read `.claude-telemetry/rules/*.yaml` under each project root. */
  projectRules?: boolean;
  state?: SessionState;
  /** Symlink resolution; defaults to a realpath cache. */
  realOf?: (abs: string) => string;
  tempRoots?: string[];
  /** The bash parser; undefined = the one loaded by `create()`, null = raw-text fallback only. */
  parser?: BashParser | null;
}

/** The state shared by everything in one process (ingest and guard see the same taint). */
export const sharedSessionState = new SessionState();

const FACT_TTL_MS = 5_000;
const MAX_CACHED = 4096;
const PROJECT_RULES_TTL_MS = 10_000;
const PROJECT_RULES_DIR = join('.claude-telemetry', 'rules');

/** Tool input keys that carry a path, with the access each tool has. */
const TOOL_PATHS: Record<string, [string, Access][]> = {
  Read: [['file_path', 'read']],
  NotebookRead: [['notebook_path', 'read']],
  Write: [['file_path', 'write']],
  Edit: [['file_path', 'write']],
  MultiEdit: [['file_path', 'write']],
  NotebookEdit: [['notebook_path', 'write']],
  LS: [['path', 'metadata']],
  Grep: [['path', 'search']],
};
const GENERIC_PATH_KEYS = new Set([
  'file',
  'file_path',
  'filepath',
  'filename',
  'path',
  'paths',
  'notebook_path',
  'directory',
  'dir',
  'source',
  'destination',
  'target',
]);
const GENERIC_URL_KEYS = new Set(['url', 'uri', 'endpoint', 'href']);

export class DetectionEngine {
  readonly home: string;
  readonly state: SessionState;
  private readonly base: RuleSet;
  private readonly projectRules: boolean;
  private readonly realOf: (abs: string) => string;
  private readonly tempRoots: string[];
  private readonly parserOpt: BashParser | null | undefined;
  private readonly factCache = new Map<string, { facts: CommandFacts; at: number }>();
  private readonly projectSets = new Map<string, { set: RuleSet; at: number }>();
  private readonly indexes = new WeakMap<RuleSet, Map<string, CompiledRule[]>>();
  private readonly probes: string[];
  private readonly verdictCache = new Map<
    string,
    { hits: { rule: CompiledRule; what: string }[]; set: RuleSet; at: number }
  >();

  constructor(opts: EngineOptions = {}) {
    this.home = opts.home ?? safeHome();
    this.state = opts.state ?? sharedSessionState;
    this.base =
      opts.ruleSet ?? loadRuleSet({ userFiles: opts.userRulesDir ? yamlFilesIn(opts.userRulesDir) : [] });
    this.projectRules = opts.projectRules ?? opts.ruleSet === undefined;
    const cache = new ScopeCache({ home: this.home, maxAgeMs: 2000 });
    this.realOf =
      opts.realOf ??
      ((p) => {
        cache.refresh();
        return cache.realOf(p);
      });
    this.tempRoots = opts.tempRoots ?? [...new Set(['/tmp', '/var/tmp', tmpdir()])];
    this.parserOpt = opts.parser;
    this.probes = [...(this.base.lists.get('glob_probes') ?? [])];
  }

  /** Forgets cached analyses and verdicts (benchmarks measure the uncached path with this). */
  clearCaches(): void {
    this.factCache.clear();
    this.verdictCache.clear();
  }

  /** An engine with the bash grammar loaded (the raw-text fallback is used if it cannot load). */
  static async create(opts: EngineOptions = {}): Promise<DetectionEngine> {
    if (opts.parser === undefined) await loadBashParser().catch(() => undefined);
    return new DetectionEngine(opts);
  }

  get ruleSet(): RuleSet {
    return this.base;
  }

  private parser(): BashParser | undefined {
    if (this.parserOpt === null) return undefined;
    return this.parserOpt ?? bashParserIfReady();
  }

  /** Rules that apply to a project: the base set, plus the project's own files when there are any. */
  rulesFor(projectRoot: string): RuleSet {
    if (!this.projectRules || projectRoot === '') return this.base;
    const now = Date.now();
    const hit = this.projectSets.get(projectRoot);
    if (hit && now - hit.at < PROJECT_RULES_TTL_MS) return hit.set;
    const files = yamlFilesIn(join(projectRoot, PROJECT_RULES_DIR));
    const set =
      files.length === 0
        ? this.base
        : loadRuleSet({
            defaultFiles: this.base.files.filter((f) => f.scope === 'default').map((f) => f.file),
            userFiles: this.base.files.filter((f) => f.scope === 'user').map((f) => f.file),
            projectFiles: files,
          });
    if (this.projectSets.size > 256) this.projectSets.clear();
    this.projectSets.set(projectRoot, { set, at: now });
    return set;
  }

  private index(set: RuleSet): Map<string, CompiledRule[]> {
    let idx = this.indexes.get(set);
    if (idx === undefined) {
      idx = new Map();
      for (const r of set.rules) {
        if (!r.def.enabled) continue;
        for (const e of r.events) {
          const list = idx.get(e) ?? [];
          list.push(r);
          idx.set(e, list);
        }
      }
      this.indexes.set(set, idx);
    }
    return idx;
  }

  /** True when some enabled rule looks at this kind of event (a cheap prefilter for ingest). */
  watches(event: string, projectRoot = ''): boolean {
    return (this.index(this.rulesFor(projectRoot)).get(event)?.length ?? 0) > 0;
  }

  /** Facts of a shell command, cached briefly by command and working directory. */
  commandFacts(command: string, cwd: string, projectRoot: string): CommandFacts {
    const key = `${cwd}\u0000${projectRoot}\u0000${command}`;
    const now = Date.now();
    const hit = this.factCache.get(key);
    if (hit && now - hit.at < FACT_TTL_MS) return hit.facts;
    const facts = analyzeCommand(
      command,
      {
        home: this.home,
        cwd: cwd || null,
        projectRoot,
        realOf: this.realOf,
        tempRoots: this.tempRoots,
        probes: this.probesFor(cwd),
      },
      this.parser(),
    );
    if (this.factCache.size >= MAX_CACHED) this.factCache.clear();
    this.factCache.set(key, { facts, at: now });
    return facts;
  }

  private probesFor(cwd: string): string[] {
    return this.probes.map((p) => (p.startsWith('./') && cwd !== '' ? `${cwd}/${p.slice(2)}` : p));
  }

  /** Everything the rules can see about a request. */
  facts(req: DetectRequest, mode: Mode = 'standard'): EventFacts {
    const cwd = req.cwd;
    const projectRoot = req.projectRoot || cwd;
    const input = req.input;
    const paths: PathFact[] = [];
    const net: NetFact[] = [];
    const pctx = {
      home: this.home,
      cwd: cwd || null,
      projectRoot,
      realOf: this.realOf,
      tempRoots: this.tempRoots,
    };
    const toolPath = (raw: unknown, access: Access, glob = false) => {
      if (typeof raw !== 'string' || raw === '' || raw.length > 4096) return;
      const info = { raw, access, source: 'tool' as const, cmd: req.tool, flags: [], sub: '', via: [], glob };
      paths.push(pathFact(info, pctx));
    };
    let cmd: CommandFacts | null = null;
    if (req.tool === 'Bash' && typeof input.command === 'string') {
      cmd = this.commandFacts(input.command, cwd, projectRoot);
    } else if (req.tool === 'Glob' || (req.tool === 'Grep' && typeof input.glob === 'string')) {
      const dir = typeof input.path === 'string' && input.path !== '' ? input.path : cwd;
      const pattern = String(req.tool === 'Glob' ? (input.pattern ?? '') : input.glob);
      toolPath(dir, 'search');
      this.globProbes(`${dir.replace(/\/$/, '')}/${pattern}`, paths, pctx, req.tool);
    } else if (req.tool === 'WebFetch' && typeof input.url === 'string') {
      net.push(urlFact('WebFetch', input.url));
    }
    const known = TOOL_PATHS[req.tool];
    if (known) for (const [k, access] of known) toolPath(input[k], access);
    else if (
      req.tool.startsWith('mcp__') ||
      (cmd === null && req.tool !== 'WebFetch' && req.tool !== 'Glob')
    ) {
      collectGeneric(input, 0, (key, value) => {
        if (GENERIC_URL_KEYS.has(key) && /^[a-z][a-z0-9+.-]*:\/\//i.test(value))
          net.push(urlFact(req.tool, value));
        else if (GENERIC_PATH_KEYS.has(key)) toolPath(value, 'unknown');
      });
    }
    if (cmd !== null) {
      paths.push(...cmd.paths);
      net.push(...cmd.net);
    }
    let content: string | undefined;
    const secrets = req.secrets ?? secretsIn(input);
    return {
      event: req.event,
      tool: req.tool,
      sessionId: req.sessionId,
      cwd,
      projectRoot,
      home: this.home,
      permissionMode: req.permissionMode ?? '',
      mode,
      tainted: this.state.taintOf(req.sessionId, req.at ?? Date.now()) !== undefined,
      input,
      cmd,
      paths,
      net,
      content: () => {
        content ??= req.content?.() ?? '';
        return content;
      },
      secrets,
      inputProblems: req.problems ?? [],
    };
  }

  private globProbes(
    glob: string,
    out: PathFact[],
    pctx: Parameters<typeof pathFact>[1],
    tool: string,
  ): void {
    const abs = glob.startsWith('~') ? this.home + glob.slice(1) : glob;
    const m = globMatcher(abs);
    for (const p of this.probesFor(pctx.cwd ?? '')) {
      const probe = p.startsWith('~') ? this.home + p.slice(1) : p;
      if (m(probe))
        out.push(
          pathFact(
            {
              raw: probe,
              access: 'search',
              source: 'glob',
              cmd: tool,
              flags: [],
              sub: '',
              via: [],
              glob: true,
            },
            pctx,
          ),
        );
    }
  }

  /** Judges one request. Updates session state (hits, taint). Never throws for bad input. */
  evaluate(req: DetectRequest, mode: Mode = 'standard'): Verdict {
    const at = req.at ?? Date.now();
    const set = this.rulesFor(req.projectRoot || req.cwd);
    const rules = this.index(set).get(req.event) ?? [];
    const tainted = this.state.taintOf(req.sessionId, at) !== undefined;
    const matched = this.statelessHits(req, mode, tainted, set, rules, at);
    const detections = matched.map((m) => this.detection(m.rule, m.what, tainted, mode));
    const hitIds = matched.map((m) => m.rule.id);
    for (const m of matched) if (m.rule.def.sets_taint) this.state.taint(req.sessionId, m.rule.id, at);
    this.state.recordHits(req.sessionId, hitIds, at);
    for (const rule of rules) {
      const th = rule.def.threshold;
      if (!th || hitIds.length === 0) continue;
      const matchers = th.of.map((g) => globMatcher(g));
      const match = (id: string) => matchers.some((m) => m(id));
      if (!hitIds.some(match)) continue;
      if (this.state.count(req.sessionId, match, rule.thresholdMs, at) >= th.count) {
        this.state.forget(req.sessionId, match);
        detections.push(this.detection(rule, req.tool || req.event, tainted, mode));
      }
    }
    return verdictOf(detections, tainted);
  }

  /**
   * Rules that match this request, each with a description of what matched. Results of requests that
   * did not look at content are remembered briefly: the same call judged again (Pre then Post, a retry,
   * a replayed batch) costs one lookup.
   */
  private statelessHits(
    req: DetectRequest,
    mode: Mode,
    tainted: boolean,
    set: RuleSet,
    rules: CompiledRule[],
    at: number,
  ): { rule: CompiledRule; what: string }[] {
    const key = verdictKey(req, mode, tainted);
    const cached = key === null ? undefined : this.verdictCache.get(key);
    if (cached && cached.set === set && at - cached.at < FACT_TTL_MS && at >= cached.at) return cached.hits;
    let contentRead = false;
    const content = req.content;
    const readContent = () => {
      contentRead = true;
      return content?.() ?? '';
    };
    const facts = this.facts({ ...req, content: readContent }, mode);
    facts.tainted = tainted;
    const hits: { rule: CompiledRule; what: string }[] = [];
    for (const rule of rules) {
      if (rule.def.threshold || (rule.def.requires_taint && !tainted) || !rule.toolMatch(req.tool)) continue;
      const subject = firstMatch(rule, facts);
      if (subject !== null) hits.push({ rule, what: describeSubject(subject) });
    }
    if (key !== null && !contentRead) {
      if (this.verdictCache.size >= MAX_CACHED) this.verdictCache.clear();
      this.verdictCache.set(key, { hits, set, at });
    }
    return hits;
  }

  private detection(rule: CompiledRule, what: string, tainted: boolean, mode: Mode): Detection {
    let action = mode === 'strict' ? rule.strictAction : rule.action;
    if (tainted && rule.def.escalate_when_tainted && action !== 'deny') action = raise(action);
    return {
      rule: rule.id,
      title: rule.def.title,
      severity: rule.severity,
      action,
      reason: redactString(`${rule.def.message.trim()} (${what})`),
      mitre: rule.def.mitre,
    };
  }
}

/** Everything a stateless verdict depends on besides the rule set; null when the input cannot be keyed. */
function verdictKey(req: DetectRequest, mode: Mode, tainted: boolean): string | null {
  let input: string;
  try {
    input = JSON.stringify(req.input);
  } catch {
    return null;
  }
  if (input.length > 16 * 1024) return null;
  const secrets = req.secrets ? req.secrets.join(',') : '?';
  return `${req.event}\u0000${req.tool}\u0000${req.cwd}\u0000${req.projectRoot ?? ''}\u0000${req.permissionMode ?? ''}\u0000${mode}\u0000${tainted}\u0000${secrets}\u0000${(req.problems ?? []).join(',')}\u0000${input}`;
}

function raise(a: Action): Action {
  return a === 'log' ? 'alert' : a === 'alert' ? 'ask' : 'deny';
}

function subjectsOf(rule: CompiledRule, facts: EventFacts): Subject[] {
  switch (rule.each) {
    case 'event':
      return [{ ev: facts }];
    case 'segment':
      return (facts.cmd?.segments ?? []).map((seg) => ({ ev: facts, seg }));
    case 'path':
      return facts.paths.map((path) => ({ ev: facts, path }));
    case 'net':
      return facts.net.map((net) => ({ ev: facts, net }));
    case 'flow':
      return (facts.cmd?.flows ?? []).map((flow) => ({ ev: facts, flow }));
  }
}

function firstMatch(rule: CompiledRule, facts: EventFacts): Subject | null {
  for (const s of subjectsOf(rule, facts)) {
    if (rule.pred(s) && !rule.exceptions.some((e) => e(s))) return s;
  }
  return null;
}

export function verdictOf(detections: Detection[], tainted: boolean): Verdict {
  let top: Action | 'none' = 'none';
  for (const d of detections) if (top === 'none' || actionRank(d.action) > actionRank(top)) top = d.action;
  const order = (d: Detection) => -actionRank(d.action);
  detections.sort((a, b) => order(a) - order(b));
  const decision: Decision = top === 'deny' ? 'deny' : top === 'ask' ? 'ask' : 'allow';
  return { decision, action: top, detections, tainted };
}

function urlFact(tool: string, url: string): NetFact {
  const host = hostOf(url);
  return {
    tool,
    url,
    host,
    port: /:(\d+)(?:\/|$)/.exec(url.replace(/^[a-z]+:\/\//i, ''))?.[1] ?? '',
    local: isLocalHost(host),
    uploads: [],
    uploadsStdin: false,
    data: [],
    secretInRequest: urlCarriesSecret(url),
  };
}

function collectGeneric(
  v: unknown,
  depth: number,
  visit: (key: string, value: string) => void,
  key = '',
): void {
  if (depth > 8) return;
  if (typeof v === 'string') {
    if (key !== '') visit(key.toLowerCase(), v);
  } else if (Array.isArray(v)) {
    for (const x of v.slice(0, 64)) collectGeneric(x, depth + 1, visit, key);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v).slice(0, 64)) collectGeneric(x, depth + 1, visit, k);
  }
}

function safeHome(): string {
  try {
    return homedir();
  } catch {
    return '/';
  }
}
