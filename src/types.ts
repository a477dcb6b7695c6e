/**
 * The normalized event: one record per Claude Code hook call, after parsing, scope checks,
 * privacy reduction and redaction. This is what the audit log commits to and what the store indexes.
 * Field names follow the seed's log schema; everything after `raw_input` in the seed is an extension.
 */

export type Level = 'INFO' | 'WARN' | 'ERROR';

/** Per-action facts. Keys absent when they do not apply (never empty-string placeholders). */
export interface ActionDetails {
  /** Absolute, lexically normalized path the tool acted on (Read/Write/Edit/NotebookEdit/LS). */
  file_path?: string;
  /** Size in bytes of the content involved (written content, read content, tool output). */
  size_bytes?: number;
  /** True when any path the action touches lies outside the project root. */
  outside_project_scope?: boolean;
  /** The paths that were found outside the project (absolute, normalized). */
  outside_paths?: string[];
  /** Bash command, secrets redacted. */
  command?: string;
  description?: string;
  search_pattern?: string;
  search_path?: string;
  url?: string;
  query?: string;
  /** Write/Edit/MultiEdit/NotebookEdit: line counts from the structured patch; content never stored. */
  lines_added?: number;
  lines_removed?: number;
  /** Line count and sha256 of reduced content (file written, file read, tool output). */
  line_count?: number;
  sha256?: string;
  /** Agent (Task) tool: the subagent requested. */
  subagent_type?: string;
  /** Subagent id from the Agent tool's response or SubagentStart/Stop. */
  subagent_id?: string;
  /** MCP tools: server name and tool. */
  mcp_server?: string;
  mcp_tool?: string;
  /** Everything else event-specific (source, reason, trigger, notification_type, task_subject...). */
  [key: string]: unknown;
}

export interface EventMetadata {
  telemetry_version: string;
  user_id: string;
  host: string;
  /** How the hooks were connected: 'project' | 'local' | 'global' | 'demo' | 'unknown'. */
  scope: string;
  claude_version?: string;
}

export interface TelemetryEvent {
  /** Stable id: the same spool file always yields the same id (idempotent ingest). */
  id: string;
  /** ISO-8601 with milliseconds, UTC: when the hook fired (spool file mtime). */
  timestamp: string;
  level: Level;
  event_type: string;
  hook_event: string;
  session_id: string;
  project_path: string;
  project_name: string;
  tool_name: string | null;
  action_details: ActionDetails;
  metadata: EventMetadata;
  /** The hook payload with contents reduced to {size, lines, sha256} and secrets redacted. */
  raw_input: Record<string, unknown>;
  // ---- extensions over the seed schema ----
  cwd?: string;
  tool_use_id?: string;
  prompt_id?: string;
  agent_id?: string;
  agent_type?: string;
  permission_mode?: string;
  effort?: string;
  duration_ms?: number;
  /** Post events: true for PostToolUse, false for PostToolUseFailure / StopFailure. */
  success?: boolean;
  /** Error text (redacted, truncated) on failures. */
  error?: string;
  transcript_path?: string;
  /** Security rules this event hit (see docs/security.md), strictest action first. */
  detections?: EventDetection[];
  // ---- lines pushed through the Loki push API that are not our own events (event_type "log" by default) ----
  /**
   * The pushed log line, verbatim. Its presence marks a pushed line: the store keeps it as the row's line
   * (not the event JSON), so a query returns exactly what was pushed.
   */
  log_line?: string;
  /** The pushed timestamp, ns since the epoch as a decimal string (`timestamp` keeps only the ms). */
  timestamp_ns?: string;
  /**
   * Pushed stream labels with no field of ours (e.g. job, filename, a service other than ours, a level
   * that is not INFO/WARN/ERROR). In the event's label set these take precedence over derived values.
   */
  extra_labels?: Record<string, string>;
  /** Pushed structured metadata with no field of ours; same precedence rule as `extra_labels`. */
  extra_metadata?: Record<string, string>;
  // ---- the seed's multi-agent schema: present only on events with an agent signal (see src/agents/context.ts) ----
  agent_context?: AgentContext;
  session_context?: SessionContext;
  project_context?: ProjectContext;
  correlation?: Correlation;
}

export interface AgentContext {
  /** Subagent id, else the fleet id (CLAUDE_TELEMETRY_AGENT_ID), else "main". */
  agent_id: string;
  agent_type: string;
  agent_group?: string;
  /** primary | secondary | coordinator, or what the environment or the registry says. */
  agent_role?: string;
  /** The Claude Code instance the agent runs in: its fleet id, else its session id. */
  instance_id: string;
}

export interface SessionContext {
  session_id: string;
  parent_session?: string;
  /** From the top agent down to this one: ["main" | fleet id, subagent, nested subagent...]. */
  session_hierarchy: string[];
  coordination_mode?: 'parallel' | 'sequential' | 'independent';
  /** Depth in the hierarchy: 0 for the top agent. */
  coordination_level: number;
  /** SessionStart source when the session was resumed, forked or compacted. */
  continued_by?: string;
}

export interface ProjectContext {
  project_group?: string;
  workspace_id?: string;
}

export interface Correlation {
  related_agents?: string[];
  workflow_id?: string;
  task_delegation?: {
    /** The agent that launched this one ("main", a fleet id or a subagent id). */
    delegated_from: string;
    delegation_type: 'parallel' | 'sequential';
    /** The subagent type asked for (general-purpose, Explore...). */
    task_type?: string;
  };
}

/** One security rule hit, stored with the event it concerns. */
export interface EventDetection {
  rule: string;
  severity: string;
  /** log | alert | ask | deny */
  action: string;
  reason: string;
  mitre: string[];
}

/** One hook call as captured in the spool, before parsing. */
export interface SpoolRecord {
  /** File name in spool/new (unique per hook call). */
  name: string;
  /** Absolute path of the file. */
  path: string;
  /** Hook time: file mtime in ms since epoch (fractional part kept for ordering). */
  mtimeMs: number;
  /** Connection scope the hook was registered with ('project' | 'local' | 'global' | 'demo' | 'unknown'). */
  scope: string;
  /** $CLAUDE_PROJECT_DIR as the hook saw it, or null. */
  projectDir: string | null;
  /** Payload bytes (stdin of the hook), header removed. */
  body: Buffer;
  /** CLAUDE_TELEMETRY_AGENT_* / _WORKFLOW_ID as the hook saw them (CT2 header); absent when none was set. */
  fleet?: FleetEnv;
}

/** Identity a separately started agent of a fleet was given through the environment (empty values left out). */
export interface FleetEnv {
  agent_id?: string;
  agent_group?: string;
  agent_role?: string;
  workflow_id?: string;
}

/** A JSON object (not null, not an array): for checking the shape of parsed input. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Input that cannot become an event. The collector moves it to quarantine/ with this reason. */
export class QuarantineError extends Error {
  constructor(
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason);
    this.name = 'QuarantineError';
  }
}
