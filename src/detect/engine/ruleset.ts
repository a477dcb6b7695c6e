/**
 * Rule files: schema, loading and layering. The shipped rules come first, then the user's files
 * (`<data dir>/rules/*.yaml`), then the project's (`.claude-telemetry/rules/*.yaml`). The user's files are
 * authoritative: they may add rules, append to lists and exceptions, and lower or disable rules that are
 * not marked `overridable: false`. A project file may only add: new rules, lists and macros under new
 * names, and overrides that make an existing rule stricter.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { globMatcher } from '../paths.ts';
import {
  type CompiledSelection,
  compileCondition,
  compileRegex,
  compileSelection,
  type Predicate,
  RuleError,
} from './compile.ts';
import { fieldGetter, fieldKind, type Subject, type SubjectKind } from './fields.ts';

export const ACTIONS = ['log', 'alert', 'ask', 'deny'] as const;
export type Action = (typeof ACTIONS)[number];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const actionRank = (a: Action): number => ACTIONS.indexOf(a);
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

const DEFAULT_ACTION: Record<Severity, Action> = {
  critical: 'deny',
  high: 'ask',
  medium: 'alert',
  low: 'log',
  info: 'log',
};

const ActionSchema = z.enum(ACTIONS);
const SeveritySchema = z.enum(SEVERITIES);

const TestCaseSchema = z.object({
  event: z.string().optional(),
  tool: z.string().default('Bash'),
  input: z.record(z.string(), z.unknown()).default({}),
  response: z.unknown().optional(),
  cwd: z.string().optional(),
  mode: z.enum(['standard', 'strict']).optional(),
  tainted: z.boolean().optional(),
  permission_mode: z.string().optional(),
});
export type RuleTestCase = z.infer<typeof TestCaseSchema>;

const ExceptionSchema = z.object({
  name: z.string(),
  fields: z.array(z.string()).min(1),
  comps: z.array(z.enum(['=', 'contains', 'startswith', 'endswith', 'glob', 're'])).optional(),
  values: z.array(z.array(z.union([z.string(), z.number(), z.boolean()]))).default([]),
});
type ExceptionDef = z.infer<typeof ExceptionSchema>;

const RuleSchema = z
  .object({
    id: z.string().regex(/^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$/, 'ids look like CT-CRED-001'),
    title: z.string().min(1),
    description: z.string().optional(),
    status: z.enum(['stable', 'experimental']).default('stable'),
    severity: SeveritySchema,
    action: ActionSchema.optional(),
    strict_action: ActionSchema.optional(),
    events: z.array(z.string()).default(['PreToolUse']),
    tools: z.array(z.string()).default(['*']),
    each: z.enum(['event', 'segment', 'path', 'net', 'flow']).default('event'),
    detection: z.record(z.string(), z.unknown()).optional(),
    exceptions: z.array(ExceptionSchema).default([]),
    mitre: z.array(z.string().regex(/^(?:T\d{4}(?:\.\d{3})?|AML\.T\d{4}(?:\.\d{3})?)$/)).min(1),
    tags: z.array(z.string()).default([]),
    references: z.array(z.string()).default([]),
    falsepositives: z.array(z.string()).default([]),
    message: z.string().min(1),
    tests: z
      .object({ match: z.array(TestCaseSchema).default([]), no_match: z.array(TestCaseSchema).default([]) })
      .optional(),
    threshold: z
      .object({
        count: z.number().int().min(2),
        window: z.string().regex(/^\d+(?:s|m|h)$/),
        of: z.array(z.string()).min(1),
      })
      .optional(),
    sets_taint: z.boolean().default(false),
    requires_taint: z.boolean().default(false),
    escalate_when_tainted: z.boolean().default(false),
    overridable: z.boolean().optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
export type RuleDef = z.infer<typeof RuleSchema>;

const OverrideSchema = z
  .object({
    rule: z.string(),
    enabled: z.boolean().optional(),
    action: ActionSchema.optional(),
    strict_action: ActionSchema.optional(),
    severity: SeveritySchema.optional(),
    append_exceptions: z.array(ExceptionSchema).optional(),
  })
  .strict();

const FileSchema = z
  .object({
    schema_version: z.literal(1),
    ruleset: z.object({ id: z.string(), version: z.string() }).optional(),
    lists: z.record(z.string(), z.array(z.string())).default({}),
    append_lists: z.record(z.string(), z.array(z.string())).default({}),
    macros: z.record(z.string(), z.unknown()).default({}),
    rules: z.array(RuleSchema).default([]),
    overrides: z.array(OverrideSchema).default([]),
  })
  .strict();
type RuleFile = z.infer<typeof FileSchema>;

export type Scope = 'default' | 'user' | 'project';

export interface CompiledRule {
  def: RuleDef;
  id: string;
  severity: Severity;
  action: Action;
  strictAction: Action;
  scope: Scope;
  file: string;
  events: ReadonlySet<string>;
  toolMatch: (tool: string) => boolean;
  each: SubjectKind;
  pred: Predicate;
  exceptions: Predicate[];
  exceptionDefs: ExceptionDef[];
  overridable: boolean;
  thresholdMs: number;
}

export interface Problem {
  file: string;
  message: string;
}

export interface RuleSet {
  rules: CompiledRule[];
  lists: ReadonlyMap<string, readonly string[]>;
  problems: Problem[];
  files: { file: string; scope: Scope }[];
}

/** Directory holding the shipped rule files (next to this module in both src and dist). */
export function defaultRulesDir(): string {
  return fileURLToPath(new URL('../rules/', import.meta.url));
}

export function yamlFilesIn(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) return [];
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'))
    .sort()
    .map((n) => join(dir, n));
}

function readRuleFile(file: string): RuleFile {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RuleError(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = FileSchema.safeParse(doc);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new RuleError(`${first?.path.join('.') || '(file)'}: ${first?.message ?? 'invalid'}`);
  }
  return r.data;
}

export interface LoadOptions {
  /** Shipped rules (defaults to the package's rules directory). */
  defaultFiles?: string[];
  userFiles?: string[];
  projectFiles?: string[];
  /** Items appended to lists after loading (runtime facts such as the real data dir). */
  extraLists?: Record<string, string[]>;
}

interface Pending {
  def: RuleDef;
  scope: Scope;
  file: string;
}

/** Loads and layers rule files. Errors in shipped files throw; errors in user/project files are reported. */
export function loadRuleSet(opts: LoadOptions = {}): RuleSet {
  const layers: { scope: Scope; files: string[] }[] = [
    { scope: 'default', files: opts.defaultFiles ?? yamlFilesIn(defaultRulesDir()) },
    { scope: 'user', files: opts.userFiles ?? [] },
    { scope: 'project', files: opts.projectFiles ?? [] },
  ];
  const problems: Problem[] = [];
  const lists = new Map<string, string[]>();
  const macros = new Map<string, unknown>();
  const pending = new Map<string, Pending>();
  const files: { file: string; scope: Scope }[] = [];
  const overrides: { o: z.infer<typeof OverrideSchema>; scope: Scope; file: string }[] = [];

  for (const layer of layers) {
    for (const file of layer.files) {
      try {
        const f = readRuleFile(file);
        applyFile(f, layer.scope, file, { lists, macros, pending, overrides, problems });
        files.push({ file, scope: layer.scope });
      } catch (err) {
        if (layer.scope === 'default') throw new RuleError(`${file}: ${(err as Error).message}`);
        problems.push({ file, message: (err as Error).message });
      }
    }
  }
  for (const { o, scope, file } of overrides) applyOverride(o, scope, file, pending, problems);
  for (const [name, items] of Object.entries(opts.extraLists ?? {}))
    lists.set(name, [...(lists.get(name) ?? []), ...items]);

  const frozenLists: ReadonlyMap<string, readonly string[]> = lists;
  const compiledMacros = new Map<string, CompiledSelection>();
  for (const [name, sel] of macros) {
    try {
      compiledMacros.set(name, compileSelection(sel, frozenLists, `macro ${name}`));
    } catch (err) {
      problems.push({ file: '(macros)', message: (err as Error).message });
    }
  }
  const rules: CompiledRule[] = [];
  for (const p of pending.values()) {
    try {
      rules.push(compileRule(p, frozenLists, compiledMacros));
    } catch (err) {
      if (p.scope === 'default')
        throw new RuleError(`${p.file}: rule ${p.def.id}: ${(err as Error).message}`);
      problems.push({ file: p.file, message: `rule ${p.def.id}: ${(err as Error).message}` });
    }
  }
  return { rules, lists: frozenLists, problems, files };
}

function applyFile(
  f: RuleFile,
  scope: Scope,
  file: string,
  acc: {
    lists: Map<string, string[]>;
    macros: Map<string, unknown>;
    pending: Map<string, Pending>;
    overrides: { o: z.infer<typeof OverrideSchema>; scope: Scope; file: string }[];
    problems: Problem[];
  },
): void {
  for (const [name, items] of Object.entries(f.lists)) {
    if (acc.lists.has(name)) {
      acc.problems.push({ file, message: `list "${name}" already exists; use append_lists to extend it` });
      continue;
    }
    acc.lists.set(name, [...items]);
  }
  for (const [name, items] of Object.entries(f.append_lists)) {
    if (scope === 'project') {
      acc.problems.push({
        file,
        message: `append_lists "${name}" ignored: a project file cannot change the user's lists`,
      });
      continue;
    }
    const cur = acc.lists.get(name);
    if (cur === undefined) acc.problems.push({ file, message: `append_lists: unknown list "${name}"` });
    else cur.push(...items);
  }
  for (const [name, sel] of Object.entries(f.macros)) {
    if (acc.macros.has(name)) acc.problems.push({ file, message: `macro "${name}" already exists` });
    else acc.macros.set(name, sel);
  }
  for (const def of f.rules) {
    if (acc.pending.has(def.id)) {
      const msg = `rule ${def.id} already exists; use overrides to change it`;
      if (scope === 'default') throw new RuleError(msg);
      acc.problems.push({ file, message: msg });
      continue;
    }
    if (scope === 'project' && !def.enabled) {
      acc.problems.push({ file, message: `rule ${def.id}: a project rule cannot be added disabled` });
      continue;
    }
    acc.pending.set(def.id, { def, scope, file });
  }
  for (const o of f.overrides) acc.overrides.push({ o, scope, file });
}

function effectiveAction(def: RuleDef): Action {
  return def.action ?? DEFAULT_ACTION[def.severity];
}

function applyOverride(
  o: z.infer<typeof OverrideSchema>,
  scope: Scope,
  file: string,
  pending: Map<string, Pending>,
  problems: Problem[],
): void {
  const p = pending.get(o.rule);
  if (p === undefined) {
    problems.push({ file, message: `override of unknown rule ${o.rule}` });
    return;
  }
  const def = { ...p.def };
  const lockedDown =
    def.overridable === false || (def.overridable === undefined && def.severity === 'critical');
  const weaker: string[] = [];
  if (o.enabled === false) weaker.push('disable');
  if (o.action !== undefined && actionRank(o.action) < actionRank(effectiveAction(def)))
    weaker.push('lower the action');
  if (
    o.strict_action !== undefined &&
    actionRank(o.strict_action) < actionRank(def.strict_action ?? effectiveAction(def))
  )
    weaker.push('lower the strict action');
  if (o.severity !== undefined && severityRank(o.severity) < severityRank(def.severity))
    weaker.push('lower the severity');
  if ((o.append_exceptions?.length ?? 0) > 0) weaker.push('add exceptions');
  if (weaker.length > 0 && (scope === 'project' || lockedDown)) {
    const who = scope === 'project' ? 'a project file cannot weaken a rule' : `${o.rule} is not overridable`;
    problems.push({ file, message: `override of ${o.rule} ignored: ${who} (${weaker.join(', ')})` });
    return;
  }
  if (o.enabled !== undefined) def.enabled = o.enabled;
  if (o.severity !== undefined) def.severity = o.severity;
  if (o.action !== undefined) def.action = o.action;
  if (o.strict_action !== undefined) def.strict_action = o.strict_action;
  if (o.append_exceptions) def.exceptions = [...def.exceptions, ...o.append_exceptions];
  pending.set(o.rule, { ...p, def });
}

const WINDOW_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

function compileRule(
  p: Pending,
  lists: ReadonlyMap<string, readonly string[]>,
  macros: Map<string, CompiledSelection>,
): CompiledRule {
  const def = p.def;
  const each: SubjectKind = def.each;
  const named = new Map<string, Predicate>();
  for (const [k, m] of macros) named.set(k, m.pred);
  let pred: Predicate = () => true;
  if (def.detection !== undefined) {
    const { condition, ...sels } = def.detection;
    const kinds = new Set<SubjectKind>();
    for (const [name, raw] of Object.entries(sels)) {
      const c = compileSelection(raw, lists, `detection.${name}`);
      for (const k of c.kinds) kinds.add(k);
      named.set(name, c.pred);
    }
    for (const k of kinds) {
      if (k !== 'event' && k !== each)
        throw new RuleError(`fields of kind "${k}" need each: ${k} (rule has each: ${each})`);
    }
    const names = Object.keys(sels);
    let cond = typeof condition === 'string' ? condition : undefined;
    if (cond === undefined) {
      if (names.length !== 1)
        throw new RuleError('detection needs a condition when it has several selections');
      cond = names[0] as string;
    }
    pred = compileCondition(cond, named, `${def.id} condition`);
  } else if (def.threshold === undefined) {
    throw new RuleError('a rule needs a detection or a threshold');
  }
  const exceptions = def.exceptions.map((e) => compileException(e, each));
  const tools = def.tools.map((t) => globMatcher(t));
  const action = effectiveAction(def);
  return {
    def,
    id: def.id,
    severity: def.severity,
    action,
    strictAction: def.strict_action ?? action,
    scope: p.scope,
    file: p.file,
    events: new Set(def.events),
    toolMatch: (tool) => (tool === '' ? def.tools.includes('*') : tools.some((m) => m(tool))),
    each,
    pred,
    exceptions,
    exceptionDefs: def.exceptions,
    overridable: !(
      def.overridable === false ||
      (def.overridable === undefined && def.severity === 'critical')
    ),
    thresholdMs: def.threshold
      ? Number(def.threshold.window.slice(0, -1)) * (WINDOW_UNITS[def.threshold.window.slice(-1)] as number)
      : 0,
  };
}

/** Falco-style exception: any tuple of values matching all its fields suppresses the rule for a subject. */
function compileException(e: ExceptionDef, each: SubjectKind): Predicate {
  for (const f of e.fields) {
    const k = fieldKind(f);
    if (k === null) throw new RuleError(`exception ${e.name}: unknown field "${f}"`);
    if (k !== 'event' && k !== each)
      throw new RuleError(`exception ${e.name}: field ${f} does not apply to each: ${each}`);
  }
  const getters = e.fields.map((f) => fieldGetter(f));
  const comps = e.fields.map((_, i) => e.comps?.[i] ?? '=');
  const tuples = e.values.map((vals) =>
    vals.map((v, i) => {
      const want = String(v).toLowerCase();
      switch (comps[i]) {
        case 'contains':
          return (s: string) => s.toLowerCase().includes(want);
        case 'startswith':
          return (s: string) => s.toLowerCase().startsWith(want);
        case 'endswith':
          return (s: string) => s.toLowerCase().endsWith(want);
        case 'glob': {
          const m = globMatcher(String(v));
          return (s: string) => m(s);
        }
        case 're': {
          const re = compileRegex(String(v), false);
          return (s: string) => re.test(s);
        }
        default:
          return (s: string) => s.toLowerCase() === want;
      }
    }),
  );
  return (s: Subject) =>
    tuples.some((tests) =>
      tests.every((t, i) => {
        const v = (getters[i] as (s: Subject) => unknown)(s);
        const items = Array.isArray(v) ? (v as unknown[]) : v === undefined ? [] : [v];
        return items.some((x) => t(String(x)));
      }),
    );
}
