/**
 * The agent registry: `<data dir>/agents.yaml`, in the seed's format, maps agent ids to what the events of
 * those agents cannot say themselves (group, role, projects, workflow). Optional: without the file every
 * value comes from the events and the CLAUDE_TELEMETRY_AGENT_* variables alone.
 *
 *   workspace_id: enterprise-dev
 *   project_groups:
 *     organization-alpha: [frontend-app, component-library]
 *   agents:
 *     agent-001:
 *       type: primary
 *       group: dev-team-alpha
 *       projects: [frontend-app]
 *       loki_instance: localhost:3101
 *       coordination_role: coordinator
 *
 * The collector checks the file's mtime at most once a second (never per event) and reloads it when it
 * changed; a file that does not validate is reported and the previous registry stays in force.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const name = z.string().min(1).max(256);
const Mode = z.enum(['parallel', 'sequential', 'independent']);

const AgentEntry = z
  .object({
    /** The seed's `type`: primary | secondary | coordinator (or any word): the agent's role unless `role` is given. */
    type: name.optional(),
    role: name.optional(),
    /** The seed's coordination_role (coordinator, participant): the role when neither role nor type is given. */
    coordination_role: name.optional(),
    group: name.optional(),
    /** agent_context.agent_type (default: claude-code, or the subagent type Claude Code reports). */
    agent_type: name.optional(),
    projects: z.array(name).optional(),
    project_group: name.optional(),
    workspace_id: name.optional(),
    workflow_id: name.optional(),
    coordination: Mode.optional(),
    /** Where this agent's data lives (the seed's federated layout); informational. */
    loki_instance: name.optional(),
    description: z.string().max(1024).optional(),
  })
  .strict();

const RegistrySchema = z
  .object({
    workspace_id: name.optional(),
    /** project_group -> project names. */
    project_groups: z.record(name, z.array(name)).optional(),
    agents: z.record(name, AgentEntry.nullable()).optional(),
  })
  .strict();

export type RegistryAgent = z.infer<typeof AgentEntry>;

/** A validated registry, indexed for lookups. */
export interface Registry {
  workspace_id?: string;
  agents: ReadonlyMap<string, RegistryAgent>;
  /** project name -> project group (from project_groups, then from each agent's projects + project_group). */
  projectGroup: ReadonlyMap<string, string>;
}

export const EMPTY_REGISTRY: Registry = { agents: new Map(), projectGroup: new Map() };

export class RegistryError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'RegistryError';
  }
}

export function registryFile(home: string): string {
  return join(home, 'agents.yaml');
}

/** Parses and validates registry text. Throws RegistryError naming the first bad key. */
export function parseRegistry(text: string, file = 'agents.yaml'): Registry {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RegistryError(file, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = RegistrySchema.safeParse(doc ?? {});
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => {
      const where = i.path.map(String).join('.') || '(top level)';
      return `${where}: ${i.message}`;
    });
    throw new RegistryError(file, issues.join('; '));
  }
  const agents = new Map<string, RegistryAgent>();
  const projectGroup = new Map<string, string>();
  for (const [group, projects] of Object.entries(r.data.project_groups ?? {}))
    for (const p of projects) projectGroup.set(p, group);
  for (const [id, entry] of Object.entries(r.data.agents ?? {})) {
    const a = entry ?? {};
    agents.set(id, a);
    if (a.project_group !== undefined)
      for (const p of a.projects ?? []) if (!projectGroup.has(p)) projectGroup.set(p, a.project_group);
  }
  return {
    ...(r.data.workspace_id !== undefined ? { workspace_id: r.data.workspace_id } : {}),
    agents,
    projectGroup,
  };
}

/** The role an entry gives its agent: role, else the seed's type, else coordination_role. */
export function roleOf(a: RegistryAgent | undefined): string | undefined {
  return a?.role ?? a?.type ?? a?.coordination_role;
}

/**
 * The registry file, reloaded when its mtime or size changes. `current()` stats the file at most once per
 * `checkMs`; in between it answers from memory.
 */
export class RegistryWatcher {
  private registry: Registry = EMPTY_REGISTRY;
  private stamp = '';
  private checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly file: string,
    private readonly log: (msg: string) => void = () => {},
    private readonly checkMs = 1000,
  ) {}

  current(now: number = Date.now()): Registry {
    if (now - this.checkedAt >= this.checkMs) {
      this.checkedAt = now;
      this.reload();
    }
    return this.registry;
  }

  /** Checks the file now; returns true when a new registry was loaded. */
  reload(): boolean {
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}/${st.size}/${st.ino}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.stamp) return false;
    this.stamp = stamp;
    if (stamp === 'missing') {
      const had = this.registry.agents.size > 0;
      this.registry = EMPTY_REGISTRY;
      if (had) this.log(`agent registry ${this.file} removed`);
      return had;
    }
    try {
      this.registry = parseRegistry(readFileSync(this.file, 'utf8'), this.file);
      this.log(`agent registry loaded: ${this.registry.agents.size} agents`);
      return true;
    } catch (err) {
      this.log(`agent registry not loaded (previous one kept): ${(err as Error).message}`);
      return false;
    }
  }
}
