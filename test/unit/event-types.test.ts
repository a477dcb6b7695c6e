import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  EVENT_TYPES,
  eventTypeFor,
  HOOK_EVENT_TYPES,
  HOOK_EVENTS,
  TOOL_EVENT_TYPES,
  TOOL_HOOK_EVENTS,
  toolEventType,
} from '../../src/ingest/event-types.ts';

describe('eventTypeFor', () => {
  test('the seed names for the tools it had', () => {
    const seed: [string, string][] = [
      ['Read', 'file_read'],
      ['Write', 'file_write'],
      ['Edit', 'file_edit'],
      ['MultiEdit', 'file_edit'],
      ['Bash', 'command_execution'],
      ['Grep', 'code_search'],
      ['Glob', 'file_search'],
      ['LS', 'directory_list'],
      ['WebFetch', 'web_fetch'],
      ['WebSearch', 'web_search'],
      ['TodoWrite', 'task_management'],
      ['Task', 'sub_agent_delegation'],
      ['NotebookEdit', 'notebook_operation'],
    ];
    for (const [tool, type] of seed) {
      for (const hook of ['PreToolUse', 'PostToolUse', 'PostToolUseFailure'])
        assert.equal(eventTypeFor(hook, tool), type, `${hook} ${tool}`);
    }
  });

  test('newer built-ins', () => {
    const rows: [string, string][] = [
      ['Agent', 'sub_agent_delegation'],
      ['PowerShell', 'command_execution'],
      ['TaskCreate', 'task_management'],
      ['TaskGet', 'task_management'],
      ['TaskUpdate', 'task_management'],
      ['TaskList', 'task_management'],
      ['TaskStop', 'task_management'],
      ['AskUserQuestion', 'user_question'],
      ['ExitPlanMode', 'plan_mode'],
      ['Skill', 'skill_use'],
      ['ToolSearch', 'tool_search'],
      ['BashOutput', 'command_output'],
      ['KillShell', 'command_kill'],
    ];
    for (const [tool, type] of rows) assert.equal(eventTypeFor('PreToolUse', tool), type, tool);
  });

  test('MCP tools, unknown tools and a missing tool name', () => {
    assert.equal(eventTypeFor('PostToolUse', 'mcp__memory__create_entities'), 'mcp_tool');
    assert.equal(eventTypeFor('PreToolUse', 'mcp__plugin_x_srv__tool'), 'mcp_tool');
    assert.equal(eventTypeFor('PreToolUse', 'SomeFutureTool'), 'tool_usage');
    assert.equal(eventTypeFor('PreToolUse', null), 'tool_usage');
    assert.equal(eventTypeFor('PreToolUse', ''), 'tool_usage');
    assert.equal(eventTypeFor('PreToolUse', 'constructor'), 'tool_usage', 'no prototype lookups');
    assert.equal(toolEventType('toString'), 'tool_usage');
  });

  test('non-tool hook events have their own types, whatever tool_name says', () => {
    const rows: [string, string][] = [
      ['SessionStart', 'session_start'],
      ['SessionEnd', 'session_end'],
      ['UserPromptSubmit', 'user_prompt'],
      ['Stop', 'agent_stop'],
      ['StopFailure', 'agent_stop_failure'],
      ['SubagentStart', 'subagent_start'],
      ['SubagentStop', 'subagent_stop'],
      ['PreCompact', 'context_compact_pre'],
      ['PostCompact', 'context_compact_post'],
      ['PostToolBatch', 'tool_batch'],
      ['PermissionRequest', 'permission_request'],
      ['PermissionDenied', 'permission_denied'],
      ['Notification', 'notification'],
      ['FileChanged', 'file_change'],
      ['MessageDisplay', 'message_display'],
    ];
    for (const [hook, type] of rows) {
      assert.equal(eventTypeFor(hook, null), type, hook);
      assert.equal(eventTypeFor(hook, 'Bash'), type, `${hook} with a tool`);
    }
  });

  test('unknown hook events are kept as unknown_event', () => {
    assert.equal(eventTypeFor('NotARealEvent', null), 'unknown_event');
    assert.equal(eventTypeFor('hasOwnProperty', null), 'unknown_event');
    assert.equal(eventTypeFor('', 'Read'), 'unknown_event');
  });
});

describe('tables', () => {
  test('33 hook events, no duplicates, each typed', () => {
    assert.equal(HOOK_EVENTS.length, 33);
    assert.equal(new Set(HOOK_EVENTS).size, 33);
    for (const h of HOOK_EVENTS) {
      const t = eventTypeFor(h, null);
      assert.notEqual(t, 'unknown_event', h);
      if (!TOOL_HOOK_EVENTS.has(h)) assert.equal(t, (HOOK_EVENT_TYPES as Record<string, string>)[h]);
    }
    assert.equal(Object.keys(HOOK_EVENT_TYPES).length + TOOL_HOOK_EVENTS.size, 33);
  });

  test('no two hook events share a type; event_type names are snake_case', () => {
    const types = Object.values(HOOK_EVENT_TYPES);
    assert.equal(new Set(types).size, types.length);
    for (const t of EVENT_TYPES) assert.match(t, /^[a-z][a-z0-9_]*$/);
  });

  test('EVENT_TYPES lists every type the tables produce', () => {
    for (const t of [...Object.values(TOOL_EVENT_TYPES), ...Object.values(HOOK_EVENT_TYPES)])
      assert.ok(EVENT_TYPES.includes(t), t);
    for (const t of ['mcp_tool', 'tool_usage', 'unknown_event']) assert.ok(EVENT_TYPES.includes(t), t);
  });
});

describe('docs/event-types.md', () => {
  const md = readFileSync(new URL('../../docs/event-types.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const line of md.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|\s*`([a-z_]+)`\s*\|/.exec(line);
    if (m) rows.set(m[1] as string, m[2] as string);
  }

  test('documents every tool with its type', () => {
    for (const [tool, type] of Object.entries(TOOL_EVENT_TYPES)) assert.equal(rows.get(tool), type, tool);
    assert.equal(rows.get('mcp__<server>__<tool>'), 'mcp_tool');
  });

  test('documents every hook event with its type', () => {
    for (const [hook, type] of Object.entries(HOOK_EVENT_TYPES)) assert.equal(rows.get(hook), type, hook);
    for (const hook of TOOL_HOOK_EVENTS)
      assert.match(md, new RegExp(`\\|\\s*\`${hook}\`\\s*\\|\\s*typed by the tool\\s*\\|`), hook);
  });

  test('documents nothing the code does not have', () => {
    for (const [name, type] of rows) {
      const known =
        (TOOL_EVENT_TYPES as Record<string, string>)[name] ??
        (HOOK_EVENT_TYPES as Record<string, string>)[name];
      if (name === 'mcp__<server>__<tool>') continue;
      assert.equal(known, type, `docs row ${name}`);
    }
  });
});
