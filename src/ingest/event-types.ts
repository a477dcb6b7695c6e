/**
 * The event_type taxonomy: one name per kind of action, shared by every part of the product (store,
 * queries, dashboards, detection rules). Tool hooks (PreToolUse, PostToolUse, PostToolUseFailure) take
 * their type from the tool; every other hook event has a type of its own. Names the original
 * claude-agent-telemetry used (file_read, file_write, file_edit, command_execution, code_search,
 * file_search, directory_list, web_fetch, web_search, task_management, sub_agent_delegation,
 * notebook_operation, tool_usage) are kept so existing queries keep working. docs/event-types.md is the
 * human-readable copy of these tables; a unit test keeps the two in sync.
 */

/** Every hook event Claude Code 2.1.329 knows (33). The connect command registers all of them. */
export const HOOK_EVENTS = [
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'PostToolBatch',
  'Notification',
  'UserPromptSubmit',
  'UserPromptExpansion',
  'SessionStart',
  'SessionEnd',
  'Stop',
  'StopFailure',
  'SubagentStart',
  'SubagentStop',
  'PreCompact',
  'PostCompact',
  'PreModelSwitch',
  'PostModelSwitch',
  'PermissionRequest',
  'PermissionDenied',
  'Setup',
  'TeammateIdle',
  'TaskCreated',
  'TaskCompleted',
  'Elicitation',
  'ElicitationResult',
  'ConfigChange',
  'WorktreeCreate',
  'WorktreeRemove',
  'InstructionsLoaded',
  'CwdChanged',
  'FileChanged',
  'DirectoryAdded',
  'MessageDisplay',
] as const;

export type HookEventName = (typeof HOOK_EVENTS)[number];

/** Hook events whose event_type comes from the tool. */
export const TOOL_HOOK_EVENTS: ReadonlySet<string> = new Set([
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
]);

/** Hook events whose payload carries `tool_name` + `tool_input` (tool-specific details are extracted). */
export const TOOL_PAYLOAD_EVENTS: ReadonlySet<string> = new Set([
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'PermissionRequest',
  'PermissionDenied',
]);

/** event_type for hook events that are not typed by their tool. */
export const HOOK_EVENT_TYPES: Readonly<
  Record<Exclude<HookEventName, 'PreToolUse' | 'PostToolUse' | 'PostToolUseFailure'>, string>
> = {
  PostToolBatch: 'tool_batch',
  Notification: 'notification',
  UserPromptSubmit: 'user_prompt',
  UserPromptExpansion: 'prompt_expansion',
  SessionStart: 'session_start',
  SessionEnd: 'session_end',
  Stop: 'agent_stop',
  StopFailure: 'agent_stop_failure',
  SubagentStart: 'subagent_start',
  SubagentStop: 'subagent_stop',
  PreCompact: 'context_compact_pre',
  PostCompact: 'context_compact_post',
  PreModelSwitch: 'model_switch_pre',
  PostModelSwitch: 'model_switch_post',
  PermissionRequest: 'permission_request',
  PermissionDenied: 'permission_denied',
  Setup: 'setup',
  TeammateIdle: 'teammate_idle',
  TaskCreated: 'task_created',
  TaskCompleted: 'task_completed',
  Elicitation: 'mcp_elicitation',
  ElicitationResult: 'mcp_elicitation_result',
  ConfigChange: 'config_change',
  WorktreeCreate: 'worktree_create',
  WorktreeRemove: 'worktree_remove',
  InstructionsLoaded: 'instructions_loaded',
  CwdChanged: 'cwd_change',
  FileChanged: 'file_change',
  DirectoryAdded: 'directory_added',
  MessageDisplay: 'message_display',
};

/** event_type of a tool event, per built-in tool (current, legacy and Windows-only names). */
export const TOOL_EVENT_TYPES: Readonly<Record<string, string>> = {
  Read: 'file_read',
  Write: 'file_write',
  Edit: 'file_edit',
  MultiEdit: 'file_edit',
  NotebookEdit: 'notebook_operation',
  NotebookRead: 'notebook_operation',
  Bash: 'command_execution',
  PowerShell: 'command_execution',
  BashOutput: 'command_output',
  TaskOutput: 'command_output',
  KillShell: 'command_kill',
  KillBash: 'command_kill',
  Grep: 'code_search',
  Glob: 'file_search',
  LS: 'directory_list',
  LSP: 'code_navigation',
  WebFetch: 'web_fetch',
  WebSearch: 'web_search',
  Agent: 'sub_agent_delegation',
  Task: 'sub_agent_delegation',
  SendMessage: 'agent_message',
  ListAgents: 'agent_list',
  TodoWrite: 'task_management',
  TaskCreate: 'task_management',
  TaskGet: 'task_management',
  TaskUpdate: 'task_management',
  TaskList: 'task_management',
  TaskStop: 'task_management',
  AskUserQuestion: 'user_question',
  EnterPlanMode: 'plan_mode',
  ExitPlanMode: 'plan_mode',
  Skill: 'skill_use',
  SlashCommand: 'skill_use',
  ToolSearch: 'tool_search',
  ListMcpResourcesTool: 'mcp_resource',
  ReadMcpResourceTool: 'mcp_resource',
  Monitor: 'monitor',
  CronCreate: 'schedule',
  CronDelete: 'schedule',
  CronList: 'schedule',
  ScheduleWakeup: 'schedule',
  Workflow: 'workflow',
  EnterWorktree: 'worktree',
  ExitWorktree: 'worktree',
};

/** Any `mcp__<server>__<tool>` tool. */
export const MCP_TOOL_EVENT_TYPE = 'mcp_tool';
/** A tool this table does not know (new built-ins, plugins): still an event, never dropped. */
export const UNKNOWN_TOOL_EVENT_TYPE = 'tool_usage';
/** A hook event this table does not know (newer Claude Code): kept, not quarantined. */
export const UNKNOWN_HOOK_EVENT_TYPE = 'unknown_event';

const hookTypes: Readonly<Record<string, string>> = HOOK_EVENT_TYPES;
const toolTypes = new Map<string, string>(Object.entries(TOOL_EVENT_TYPES));

export function isMcpTool(toolName: string): boolean {
  return toolName.startsWith('mcp__');
}

/** event_type of a tool, whatever hook event carried it. */
export function toolEventType(toolName: string | null): string {
  if (toolName === null || toolName === '') return UNKNOWN_TOOL_EVENT_TYPE;
  const known = toolTypes.get(toolName);
  if (known !== undefined) return known;
  return isMcpTool(toolName) ? MCP_TOOL_EVENT_TYPE : UNKNOWN_TOOL_EVENT_TYPE;
}

/** event_type of one hook call. Tool hooks are typed by their tool; `hookEvent` says Pre vs Post. */
export function eventTypeFor(hookEvent: string, toolName: string | null): string {
  if (TOOL_HOOK_EVENTS.has(hookEvent)) return toolEventType(toolName);
  return Object.hasOwn(hookTypes, hookEvent) ? (hookTypes[hookEvent] as string) : UNKNOWN_HOOK_EVENT_TYPE;
}

/** Every event_type the product can emit, sorted (for docs, query validation and dashboards). */
export const EVENT_TYPES: readonly string[] = [
  ...new Set([
    ...Object.values(TOOL_EVENT_TYPES),
    ...Object.values(HOOK_EVENT_TYPES),
    MCP_TOOL_EVENT_TYPE,
    UNKNOWN_TOOL_EVENT_TYPE,
    UNKNOWN_HOOK_EVENT_TYPE,
  ]),
].sort();
