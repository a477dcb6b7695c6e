import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HOOK_EVENTS } from '../../src/ingest/event-types.ts';
import { eventIdFor, type NormalizeContext, normalize } from '../../src/ingest/normalize.ts';
import { ScopeCache } from '../../src/ingest/scope.ts';
import { QuarantineError, type SpoolRecord, type TelemetryEvent } from '../../src/types.ts';

const FIXTURES = [
  'hook-payloads.full.2.1.329.jsonl',
  'hook-payloads.full.2.1.197.jsonl',
  'hook-payloads.full-untrusted.2.1.329.jsonl',
  'hook-payloads.outputs-parallel.2.1.329.jsonl',
];
const PROJECT = '/home/dev/project';
const MTIME = Date.UTC(2026, 10, 21, 10, 7, 47, 798) + 0.25;

type Obj = Record<string, unknown>;

function fixtureLines(file: string): Obj[] {
  const text = readFileSync(new URL(`../fixtures/claude-code/${file}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const v = JSON.parse(l) as Obj;
      // outputs-parallel wraps each payload with the capturing hook's argv and timing
      return 'argv' in v && typeof v.payload === 'object' ? (v.payload as Obj) : v;
    });
}

let seq = 0;
function rec(body: Obj | string | Buffer, over: Partial<SpoolRecord> = {}): SpoolRecord {
  const buf = Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const name = over.name ?? `1234.${seq++}.project`;
  return {
    name,
    path: `/spool/new/${name}`,
    mtimeMs: MTIME,
    scope: 'project',
    projectDir: PROJECT,
    body: buf,
    ...over,
  };
}

function ctx(over: Partial<NormalizeContext> = {}): NormalizeContext {
  return {
    user: 'dev',
    host: 'box',
    telemetryVersion: '0.1.0',
    capture: 'metadata',
    scopeCache: new ScopeCache({ home: '/home/dev' }),
    ...over,
  };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Independent copy of the documented table: a change in the code must be a deliberate change here too. */
const TOOL_TYPES: Record<string, string> = {
  Bash: 'command_execution',
  Write: 'file_write',
  Edit: 'file_edit',
  Read: 'file_read',
  mcp__mock__echo: 'mcp_tool',
  TaskCreate: 'task_management',
  Agent: 'sub_agent_delegation',
};
const HOOK_TYPES: Record<string, string> = {
  SessionStart: 'session_start',
  SessionEnd: 'session_end',
  UserPromptSubmit: 'user_prompt',
  PostToolBatch: 'tool_batch',
  SubagentStart: 'subagent_start',
  SubagentStop: 'subagent_stop',
  Stop: 'agent_stop',
  MessageDisplay: 'message_display',
  TaskCreated: 'task_created',
  FileChanged: 'file_change',
  PermissionRequest: 'permission_request',
};

function isReduced(v: unknown, content?: string): boolean {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Obj;
  if (r.$reduced !== true || typeof r.size !== 'number' || typeof r.lines !== 'number') return false;
  if (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) return false;
  return content === undefined || (r.sha256 === sha(content) && r.size === bytes(content));
}

/** Per-event expectations for a real captured payload. Returns the name of the check that ran. */
function expectFixture(p: Obj, ev: TelemetryEvent): string {
  const hook = p.hook_event_name as string;
  const tool = (p.tool_name as string | undefined) ?? null;
  const input = (p.tool_input ?? {}) as Obj;
  const resp = p.tool_response as Obj | undefined;
  const d = ev.action_details;
  const raw = ev.raw_input;
  const rawInput = raw.tool_input as Obj | undefined;

  // common to every event
  assert.equal(ev.hook_event, hook);
  assert.equal(ev.session_id, p.session_id);
  assert.equal(ev.tool_name, tool);
  assert.equal(ev.project_path, PROJECT);
  assert.equal(ev.project_name, 'project');
  assert.equal(ev.timestamp, new Date(MTIME).toISOString());
  assert.match(ev.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(ev.metadata, {
    telemetry_version: '0.1.0',
    user_id: 'dev',
    host: 'box',
    scope: 'project',
  });
  assert.equal(ev.cwd, p.cwd);
  assert.equal(ev.transcript_path, p.transcript_path);
  assert.equal(ev.prompt_id, p.prompt_id);
  assert.equal(ev.permission_mode, p.permission_mode);
  assert.equal(ev.agent_id, p.agent_id);
  assert.equal(ev.agent_type, p.agent_type);
  assert.equal(ev.effort, (p.effort as Obj | undefined)?.level);
  assert.equal(ev.duration_ms, p.duration_ms);
  assert.equal(ev.level, hook === 'PostToolUseFailure' ? 'ERROR' : 'INFO');
  assert.equal(raw.session_id, p.session_id);
  assert.equal(raw.hook_event_name, hook);
  assert.equal(d.outside_project_scope === true, false, 'nothing in the captures leaves the project');
  assert.equal(d.secrets_redacted, undefined, 'nothing in the captures is a secret');
  if (hook === 'PostToolUse') assert.equal(ev.success, true);
  else if (hook === 'PostToolUseFailure') assert.equal(ev.success, false);
  else assert.equal(ev.success, undefined);

  if (hook === 'PreToolUse' || hook === 'PostToolUse' || hook === 'PostToolUseFailure') {
    assert.equal(ev.event_type, TOOL_TYPES[tool as string], `${hook} ${tool}`);
    assert.equal(ev.tool_use_id, p.tool_use_id);
    assert.equal(rawInput === undefined, false);
    if (resp !== undefined) assert.ok(isReduced(raw.tool_response), 'tool_response reduced');
    const post = hook === 'PostToolUse';
    switch (tool) {
      case 'Bash': {
        assert.equal(d.command, input.command);
        assert.equal(d.description, input.description);
        assert.equal(d.outside_project_scope, false);
        assert.equal(rawInput?.command, input.command, 'commands are kept');
        if (post) {
          const out = (resp?.stdout as string) + (resp?.stderr as string);
          assert.equal(d.size_bytes, bytes(out));
          assert.equal(d.line_count, 1);
          assert.equal(d.interrupted, false);
        }
        if (hook === 'PostToolUseFailure') {
          assert.match(ev.error ?? '', /^Exit code 1\n/);
          assert.equal(ev.error, p.error);
          assert.equal(d.interrupted, false);
          assert.equal(raw.error, p.error, 'short errors are kept');
        }
        return `${hook}:Bash`;
      }
      case 'Write':
        assert.equal(d.file_path, `${PROJECT}/hello.txt`);
        assert.equal(d.size_bytes, 12);
        assert.equal(d.line_count, 1);
        assert.equal(d.sha256, sha('hello world\n'));
        assert.equal(d.outside_project_scope, false);
        assert.ok(isReduced(rawInput?.content, 'hello world\n'), 'Write content reduced');
        if (post) {
          assert.equal(d.write_type, 'create');
          assert.equal(d.lines_added, 1);
          assert.equal(d.lines_removed, 0);
          assert.equal((raw.tool_response as Obj).type, 'create');
          assert.equal((raw.tool_response as Obj).filePath, `${PROJECT}/hello.txt`);
        } else {
          assert.equal(d.lines_added, undefined);
        }
        return `${hook}:Write`;
      case 'Edit':
        assert.equal(d.file_path, `${PROJECT}/hello.txt`);
        assert.equal(d.replace_all, false);
        assert.equal(d.outside_project_scope, false);
        assert.ok(isReduced(rawInput?.old_string, 'world') && isReduced(rawInput?.new_string, 'mock'));
        if (post) {
          assert.equal(d.lines_added, 1);
          assert.equal(d.lines_removed, 1);
        }
        return `${hook}:Edit`;
      case 'Read':
        assert.equal(d.file_path, `${PROJECT}/hello.txt`);
        assert.equal(d.outside_project_scope, false);
        assert.equal(rawInput?.file_path, `${PROJECT}/hello.txt`);
        if (post) {
          assert.equal(d.size_bytes, bytes('hello mock\n'));
          assert.equal(d.line_count, 1);
          assert.equal(d.total_lines, 2);
          assert.equal(d.sha256, sha('hello mock\n'));
          assert.equal(d.read_type, 'text');
          assert.equal((raw.tool_response as Obj).numLines, 2);
        }
        if (hook === 'PostToolUseFailure') assert.match(ev.error ?? '', /^File does not exist/);
        return `${hook}:Read`;
      case 'mcp__mock__echo':
        assert.equal(d.mcp_server, 'mock');
        assert.equal(d.mcp_tool, 'echo');
        assert.equal(d.outside_project_scope, undefined, 'no paths, no scope verdict');
        assert.equal(rawInput?.text, 'ping');
        if (p.mcp_server) assert.equal(d.mcp_source, 'dynamic');
        return `${hook}:mcp`;
      case 'TaskCreate':
        assert.equal(d.task_subject, 'Write report');
        if (post) assert.equal(d.task_id, '1');
        return `${hook}:TaskCreate`;
      case 'Agent':
        assert.equal(d.subagent_type, 'general-purpose');
        assert.equal(d.description, 'Run echo in subagent');
        assert.equal(d.run_in_background, false);
        assert.ok(isReduced(rawInput?.prompt, input.prompt as string), 'Agent prompt reduced');
        if (post) {
          assert.equal(d.subagent_id, resp?.agentId);
          assert.equal(d.subagent_status, 'completed');
          assert.equal(d.total_tokens, resp?.totalTokens);
          const r = raw.tool_response as Obj;
          assert.equal(r.agentId, resp?.agentId);
          assert.equal(r.totalTokens, resp?.totalTokens);
          assert.equal(r.prompt, undefined, 'the prompt inside the response is not a safe fact');
        }
        return `${hook}:Agent`;
      default:
        assert.fail(`no expectation for tool ${tool}`);
    }
  }

  assert.equal(ev.event_type, HOOK_TYPES[hook], hook);
  switch (hook) {
    case 'SessionStart':
      assert.equal(d.source, 'startup');
      return hook;
    case 'SessionEnd':
      assert.equal(d.reason, 'other');
      return hook;
    case 'UserPromptSubmit':
      assert.equal(d.size_bytes, bytes(p.prompt as string));
      assert.equal(d.line_count, 1);
      assert.ok(isReduced(raw.prompt, p.prompt as string), 'prompt reduced');
      assert.ok(!JSON.stringify(ev).includes(p.prompt as string));
      return hook;
    case 'PostToolBatch': {
      const calls = p.tool_calls as Obj[];
      assert.equal(d.tool_count, calls.length);
      assert.deepEqual(
        d.tools,
        calls.map((c) => c.tool_name),
      );
      const pathy = calls.some((c) => ['Bash', 'Read', 'Write', 'Edit'].includes(c.tool_name as string));
      assert.equal(d.outside_project_scope, pathy ? false : undefined);
      const rawCalls = raw.tool_calls as Obj[];
      for (const [i, c] of rawCalls.entries()) {
        assert.equal(c.tool_name, calls[i]?.tool_name);
        assert.ok(isReduced(c.tool_response), 'batch tool_response reduced');
        if (c.tool_name === 'Write') assert.ok(isReduced((c.tool_input as Obj).content, 'hello world\n'));
        if (c.tool_name === 'Bash')
          assert.equal((c.tool_input as Obj).command, ((calls[i] as Obj).tool_input as Obj).command);
      }
      return hook;
    }
    case 'SubagentStart':
    case 'SubagentStop':
      assert.equal(d.agent_id, p.agent_id);
      assert.equal(d.agent_type, 'general-purpose');
      assert.equal(d.subagent_id, p.agent_id);
      if (hook === 'SubagentStop') {
        assert.equal(d.agent_transcript_path, p.agent_transcript_path);
        assert.equal(d.stop_hook_active, false);
        assert.ok(isReduced(raw.last_assistant_message, p.last_assistant_message as string));
      }
      return hook;
    case 'Stop':
      assert.equal(d.stop_hook_active, false);
      assert.equal(d.background_tasks_count, 0);
      assert.ok(isReduced(raw.last_assistant_message, p.last_assistant_message as string));
      assert.equal(d.last_assistant_message, undefined);
      return hook;
    case 'MessageDisplay':
      assert.equal(d.size_bytes, bytes(p.delta as string));
      assert.equal(d.final, true);
      assert.equal(d.index, 0);
      assert.equal(d.turn_id, p.turn_id);
      assert.ok(isReduced(raw.delta, p.delta as string));
      return hook;
    case 'TaskCreated':
      assert.equal(d.task_id, '1');
      assert.equal(d.task_subject, 'Write report');
      return hook;
    case 'FileChanged':
      assert.equal(d.file_path, `${PROJECT}/hello.txt`);
      assert.equal(d.event, 'add');
      assert.equal(d.outside_project_scope, false);
      return hook;
    case 'PermissionRequest':
      assert.ok(tool === 'Write' || tool === 'mcp__mock__echo');
      assert.equal(d.permission_suggestion_count, 1);
      if (tool === 'Write') {
        assert.equal(d.file_path, `${PROJECT}/hello.txt`);
        assert.equal(d.outside_project_scope, false);
        assert.ok(isReduced(rawInput?.content, 'hello world\n'));
      } else {
        assert.equal(d.mcp_server, 'mock');
      }
      return hook;
    default:
      assert.fail(`no expectation for hook event ${hook}`);
  }
}

describe('normalize: every captured payload', () => {
  const covered = new Set<string>();
  for (const file of FIXTURES) {
    const lines = fixtureLines(file);
    test(`${file} (${lines.length} lines)`, () => {
      assert.ok(lines.length > 10);
      const c = ctx();
      const ids = new Set<string>();
      for (const [i, p] of lines.entries()) {
        const r = rec(p, { name: `${file}.${i}` });
        const ev = normalize(r, c);
        covered.add(expectFixture(p, ev));
        // captured content never shows up verbatim in the event
        const json = JSON.stringify(ev);
        for (const content of [
          'hello world\\n',
          'Exercise the tools please',
          'All steps done.',
          'Subagent finished',
        ]) {
          assert.ok(!json.includes(content), `${content} leaked from line ${i}`);
        }
        assert.equal(normalize(r, c).id, ev.id, 'same record, same id');
        ids.add(ev.id);
      }
      assert.equal(ids.size, lines.length, 'ids are unique per spool file');
    });
  }
  test('the captures exercise every kind of event they contain', () => {
    for (const k of [
      'PreToolUse:Bash',
      'PostToolUse:Bash',
      'PostToolUseFailure:Bash',
      'PostToolUse:Write',
      'PostToolUse:Edit',
      'PostToolUse:Read',
      'PostToolUseFailure:Read',
      'PostToolUse:mcp',
      'PostToolUse:Agent',
      'PostToolUse:TaskCreate',
      'PermissionRequest',
      'FileChanged',
      'PostToolBatch',
      'MessageDisplay',
      'SubagentStop',
    ])
      assert.ok(covered.has(k), k);
  });

  test('full capture keeps contents (still redacted)', () => {
    const c = ctx({ capture: 'full' });
    for (const p of fixtureLines(FIXTURES[0] as string)) {
      const ev = normalize(rec(p), c);
      const ti = ev.raw_input.tool_input as Obj | undefined;
      if (p.tool_name === 'Write') assert.equal(ti?.content, 'hello world\n');
      if (p.tool_name === 'Edit') assert.equal(ti?.new_string, 'mock');
      if (p.hook_event_name === 'UserPromptSubmit') assert.equal(ev.raw_input.prompt, p.prompt);
      if (p.hook_event_name === 'PostToolUse') assert.deepEqual(ev.raw_input.tool_response, p.tool_response);
      if (p.hook_event_name === 'Stop') assert.equal(ev.raw_input.last_assistant_message, 'All steps done.');
    }
  });

  test('project root without CLAUDE_PROJECT_DIR: git top level, else cwd', () => {
    const p = fixtureLines(FIXTURES[0] as string)[0] as Obj;
    const ev = normalize(rec(p, { projectDir: null }), ctx());
    assert.equal(ev.project_path, PROJECT);
    const ev2 = normalize(rec({ ...p, cwd: undefined }, { projectDir: null }), ctx());
    assert.equal(ev2.project_path, '');
    assert.equal(ev2.project_name, '');
  });

  test('claude_version comes from the collector lookup', () => {
    const p = fixtureLines(FIXTURES[0] as string)[2] as Obj;
    const seen: unknown[] = [];
    const ev = normalize(
      rec(p),
      ctx({
        claudeVersion: (sid, tp) => {
          seen.push(sid, tp);
          return '2.1.329';
        },
      }),
    );
    assert.equal(ev.metadata.claude_version, '2.1.329');
    assert.deepEqual(seen, [p.session_id, p.transcript_path]);
    const ev2 = normalize(
      rec(p),
      ctx({
        claudeVersion: () => {
          throw new Error('lookup failed');
        },
      }),
    );
    assert.equal(ev2.metadata.claude_version, undefined);
  });
});

const BASE = {
  session_id: '2a8611e7-0806-4a69-93cf-1ec49e3ad0ca',
  transcript_path: '/home/dev/.claude/projects/-home-dev-project/2a8611e7-0806-4a69-93cf-1ec49e3ad0ca.jsonl',
  cwd: PROJECT,
  permission_mode: 'default',
};
const tool = (hook: string, tool_name: string, tool_input: Obj, extra: Obj = {}): Obj => ({
  ...BASE,
  hook_event_name: hook,
  tool_name,
  tool_input,
  tool_use_id: 'toolu_x',
  ...extra,
});

describe('normalize: scope', () => {
  const cases: [string, Obj, boolean, string[]][] = [
    ['Read /etc/passwd', tool('PreToolUse', 'Read', { file_path: '/etc/passwd' }), true, ['/etc/passwd']],
    ['Read relative inside', tool('PreToolUse', 'Read', { file_path: 'src/a.ts' }), false, []],
    [
      'Read through ..',
      tool('PreToolUse', 'Read', { file_path: `${PROJECT}/../other/x` }),
      true,
      ['/home/dev/other/x'],
    ],
    [
      'Read sibling prefix',
      tool('PreToolUse', 'Read', { file_path: `${PROJECT}-evil/x` }),
      true,
      [`${PROJECT}-evil/x`],
    ],
    [
      'Write new file outside',
      tool('PreToolUse', 'Write', { file_path: '/tmp/new-x.txt', content: 'x' }),
      true,
      ['/tmp/new-x.txt'],
    ],
    [
      'Edit ~/.bashrc',
      tool('PreToolUse', 'Edit', { file_path: '~/.bashrc', old_string: 'a', new_string: 'b' }),
      true,
      ['/home/dev/.bashrc'],
    ],
    [
      'Bash cat /etc/passwd',
      tool('PreToolUse', 'Bash', { command: 'cat /etc/passwd' }),
      true,
      ['/etc/passwd'],
    ],
    [
      'Bash cd /tmp && cat x',
      tool('PreToolUse', 'Bash', { command: 'cd /tmp && cat x' }),
      true,
      ['/tmp', '/tmp/x'],
    ],
    ['Bash 2>/dev/null', tool('PreToolUse', 'Bash', { command: 'ls src 2>/dev/null' }), false, []],
    [
      'Bash while cwd is outside',
      tool('PreToolUse', 'Bash', { command: 'ls' }, { cwd: '/tmp' }),
      true,
      ['/tmp'],
    ],
    ['Grep with outside path', tool('PreToolUse', 'Grep', { pattern: 'root', path: '/etc' }), true, ['/etc']],
    ['Grep default path is cwd', tool('PreToolUse', 'Grep', { pattern: 'x' }), false, []],
    ['Glob absolute pattern', tool('PreToolUse', 'Glob', { pattern: '/etc/**/*.conf' }), true, ['/etc']],
    ['LS outside', tool('PreToolUse', 'LS', { path: '/var/log' }), true, ['/var/log']],
    [
      'NotebookEdit inside',
      tool('PreToolUse', 'NotebookEdit', { notebook_path: `${PROJECT}/n.ipynb`, new_source: 'x' }),
      false,
      [],
    ],
    [
      'MCP tool with a path argument',
      tool('PreToolUse', 'mcp__fs__read', { path: '/etc/hosts' }),
      true,
      ['/etc/hosts'],
    ],
    [
      'unknown tool with file_path',
      tool('PreToolUse', 'FancyTool', { file_path: '/opt/x' }),
      true,
      ['/opt/x'],
    ],
    [
      'PostToolBatch with a denied outside Write',
      {
        ...BASE,
        hook_event_name: 'PostToolBatch',
        tool_calls: [
          {
            tool_name: 'Write',
            tool_input: { file_path: '/etc/cron.d/x', content: 'x' },
            tool_response: 'denied',
          },
        ],
      },
      true,
      ['/etc/cron.d/x'],
    ],
    [
      'FileChanged outside',
      { ...BASE, hook_event_name: 'FileChanged', file_path: '/etc/hosts', event: 'change' },
      true,
      ['/etc/hosts'],
    ],
    [
      'CwdChanged to outside',
      { ...BASE, hook_event_name: 'CwdChanged', old_cwd: PROJECT, new_cwd: '/tmp' },
      true,
      ['/tmp'],
    ],
  ];
  for (const [name, payload, outside, paths] of cases) {
    test(name, () => {
      const ev = normalize(rec(payload), ctx());
      assert.equal(ev.action_details.outside_project_scope, outside);
      assert.deepEqual(ev.action_details.outside_paths ?? [], paths);
      assert.equal(ev.level, outside ? 'WARN' : 'INFO');
    });
  }

  test('file_path is absolute and normalized; search_path defaults to cwd', () => {
    const a = normalize(rec(tool('PreToolUse', 'Read', { file_path: 'src/../lib//x.ts' })), ctx());
    assert.equal(a.action_details.file_path, `${PROJECT}/lib/x.ts`);
    const b = normalize(rec(tool('PreToolUse', 'Grep', { pattern: 'TODO', glob: '*.ts' })), ctx());
    assert.equal(b.action_details.search_path, PROJECT);
    assert.equal(b.action_details.search_pattern, 'TODO');
    assert.equal(b.action_details.glob, '*.ts');
  });
});

describe('normalize: event details', () => {
  test('every hook event gets its own type; unknown events and tools are kept', () => {
    const expected: Record<string, string> = {
      PreToolUse: 'file_read',
      PostToolUse: 'file_read',
      PostToolUseFailure: 'file_read',
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
    assert.equal(HOOK_EVENTS.length, 33);
    for (const hook of HOOK_EVENTS) {
      const ev = normalize(
        rec({ ...BASE, hook_event_name: hook, tool_name: 'Read', tool_input: { file_path: 'a' } }),
        ctx(),
      );
      assert.equal(ev.event_type, expected[hook], hook);
    }
    const unknown = normalize(
      rec({ ...BASE, hook_event_name: 'BrandNewEvent', flavour: 'x', n: 3, list: [1, 2] }),
      ctx(),
    );
    assert.equal(unknown.event_type, 'unknown_event');
    assert.equal(unknown.level, 'INFO');
    assert.equal(unknown.action_details.flavour, 'x');
    assert.equal(unknown.action_details.n, 3);
    assert.equal(unknown.action_details.list_count, 2);
    const fancy = normalize(
      rec(tool('PostToolUse', 'FancyTool', { x: 1 }, { tool_response: { ok: true } })),
      ctx(),
    );
    assert.equal(fancy.event_type, 'tool_usage');
    assert.equal(fancy.tool_name, 'FancyTool');
    assert.equal(fancy.success, true);
  });

  test('levels and failures', () => {
    const sf = normalize(
      rec({
        ...BASE,
        hook_event_name: 'StopFailure',
        error: 'rate_limit',
        error_details: '429 Too Many Requests',
      }),
      ctx(),
    );
    assert.equal(sf.level, 'ERROR');
    assert.equal(sf.success, false);
    assert.equal(sf.error, 'rate_limit: 429 Too Many Requests');
    assert.equal(sf.action_details.error, 'rate_limit');
    const pd = normalize(
      rec(tool('PermissionDenied', 'Bash', { command: 'rm -rf build' }, { reason: 'auto mode' })),
      ctx(),
    );
    assert.equal(pd.level, 'WARN');
    assert.equal(pd.event_type, 'permission_denied');
    assert.equal(pd.action_details.reason, 'auto mode');
    assert.equal(pd.action_details.command, 'rm -rf build');
    const long = normalize(
      rec(
        tool(
          'PostToolUseFailure',
          'Bash',
          { command: 'make' },
          { error: `Exit code 2\n${'x'.repeat(10_000)}` },
        ),
      ),
      ctx(),
    );
    assert.ok((long.error?.length ?? 0) <= 2048 + 40);
    assert.ok(typeof long.raw_input.error === 'object', 'long errors reduced in raw_input');
  });

  test('tool facts', () => {
    const c = ctx();
    const edit = normalize(
      rec(
        tool(
          'PostToolUse',
          'MultiEdit',
          {
            file_path: `${PROJECT}/a.ts`,
            edits: [
              { old_string: 'a', new_string: 'b' },
              { old_string: 'c', new_string: 'd\ne' },
            ],
          },
          {
            tool_response: {
              structuredPatch: [{ lines: [' ctx', '-a', '+b'] }, { lines: ['-c', '+d', '+e'] }],
            },
          },
        ),
      ),
      c,
    );
    assert.equal(edit.event_type, 'file_edit');
    assert.equal(edit.action_details.edit_count, 2);
    assert.equal(edit.action_details.lines_added, 3);
    assert.equal(edit.action_details.lines_removed, 2);
    const edits = (edit.raw_input.tool_input as Obj).edits as Obj[];
    assert.ok(isReduced(edits[1]?.new_string, 'd\ne'));

    const update = normalize(
      rec(
        tool(
          'PostToolUse',
          'Write',
          { file_path: `${PROJECT}/a.ts`, content: 'one\ntwo\n' },
          { tool_response: { type: 'update', structuredPatch: [{ lines: ['-old', '+one', '+two'] }] } },
        ),
      ),
      c,
    );
    assert.equal(update.action_details.lines_added, 2);
    assert.equal(update.action_details.lines_removed, 1);
    assert.equal(update.action_details.line_count, 2);

    const web = normalize(
      rec(
        tool(
          'PostToolUse',
          'WebFetch',
          { url: 'https://example.com/x', prompt: 'summarize' },
          { tool_response: { code: 200, bytes: 512 } },
        ),
      ),
      c,
    );
    assert.equal(web.event_type, 'web_fetch');
    assert.equal(web.action_details.url, 'https://example.com/x');
    assert.equal(web.action_details.http_status, 200);
    assert.equal(web.action_details.size_bytes, 512);
    const search = normalize(rec(tool('PreToolUse', 'WebSearch', { query: 'node test runner' })), c);
    assert.equal(search.action_details.query, 'node test runner');
    const nb = normalize(
      rec(tool('PreToolUse', 'NotebookEdit', { notebook_path: `${PROJECT}/n.ipynb`, new_source: 'a\nb' })),
      c,
    );
    assert.equal(nb.event_type, 'notebook_operation');
    assert.equal(nb.action_details.file_path, `${PROJECT}/n.ipynb`);
    assert.equal(nb.action_details.line_count, 2);
    assert.ok(isReduced((nb.raw_input.tool_input as Obj).new_source, 'a\nb'));
    const task = normalize(
      rec(tool('PreToolUse', 'Task', { prompt: 'p', subagent_type: 'Explore', description: 'd' })),
      c,
    );
    assert.equal(task.event_type, 'sub_agent_delegation');
    assert.equal(task.action_details.subagent_type, 'Explore');
    const todo = normalize(rec(tool('PreToolUse', 'TodoWrite', { todos: [{}, {}, {}] })), c);
    assert.equal(todo.event_type, 'task_management');
    assert.equal(todo.action_details.todo_count, 3);
    const mcp = normalize(rec(tool('PreToolUse', 'mcp__plugin_x_srv__do_thing', {})), c);
    assert.equal(mcp.action_details.mcp_server, 'plugin_x_srv');
    assert.equal(mcp.action_details.mcp_tool, 'do_thing');
  });

  test('non-tool events carry their scalar fields', () => {
    const c = ctx();
    const n = normalize(
      rec({
        ...BASE,
        hook_event_name: 'Notification',
        message: 'Needs permission',
        notification_type: 'permission_prompt',
      }),
      c,
    );
    assert.equal(n.action_details.notification_type, 'permission_prompt');
    assert.equal(n.action_details.message, 'Needs permission');
    const pc = normalize(
      rec({
        ...BASE,
        hook_event_name: 'PreCompact',
        trigger: 'manual',
        custom_instructions: 'keep the API notes',
      }),
      c,
    );
    assert.equal(pc.action_details.trigger, 'manual');
    assert.ok(isReduced(pc.raw_input.custom_instructions, 'keep the API notes'));
    const post = normalize(
      rec({ ...BASE, hook_event_name: 'PostCompact', trigger: 'auto', compact_summary: 'summary text' }),
      c,
    );
    assert.ok(isReduced(post.raw_input.compact_summary, 'summary text'));
    const ms = normalize(
      rec({
        ...BASE,
        hook_event_name: 'PostModelSwitch',
        from_model: 'a',
        to_model: 'b',
        context_tokens: 1000,
        prompt_cache_warm: true,
      }),
      c,
    );
    assert.equal(ms.action_details.to_model, 'b');
    assert.equal(ms.action_details.context_tokens, 1000);
    const cw = normalize(
      rec({ ...BASE, hook_event_name: 'CwdChanged', old_cwd: PROJECT, new_cwd: `${PROJECT}/src` }),
      c,
    );
    assert.equal(cw.action_details.new_cwd, `${PROJECT}/src`);
    assert.equal(cw.action_details.outside_project_scope, false);
    const el = normalize(
      rec({
        ...BASE,
        hook_event_name: 'Elicitation',
        mcp_server_name: 'srv',
        message: 'Pick one',
        mode: 'form',
      }),
      c,
    );
    assert.equal(el.action_details.mcp_server, 'srv');
    const er = normalize(
      rec({
        ...BASE,
        hook_event_name: 'ElicitationResult',
        mcp_server_name: 'srv',
        action: 'accept',
        content: { pin: '1234' },
      }),
      c,
    );
    assert.equal(er.action_details.action, 'accept');
    assert.ok(isReduced(er.raw_input.content));
    const ue = normalize(
      rec({
        ...BASE,
        hook_event_name: 'UserPromptExpansion',
        command_name: 'review',
        command_args: 'my args',
        prompt: 'expanded',
      }),
      c,
    );
    assert.equal(ue.action_details.command_name, 'review');
    assert.ok(isReduced(ue.raw_input.command_args, 'my args') && isReduced(ue.raw_input.prompt, 'expanded'));
    const il = normalize(
      rec({
        ...BASE,
        hook_event_name: 'InstructionsLoaded',
        file_path: '/home/dev/.claude/CLAUDE.md',
        memory_type: 'User',
        load_reason: 'session_start',
      }),
      c,
    );
    assert.equal(
      il.action_details.outside_project_scope,
      undefined,
      'user memory is outside by design: no verdict',
    );
    assert.equal(il.action_details.memory_type, 'User');
  });
});

describe('normalize: quarantine', () => {
  const bad: [string, Buffer | string | Obj, RegExp][] = [
    ['empty body', Buffer.alloc(0), /^empty payload$/],
    ['whitespace only', '  \n\t ', /^empty payload$/],
    ['NUL bytes', Buffer.from('{"a":1}\u0000\u0000'), /^binary payload/],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /^malformed JSON: not valid UTF-8/],
    ['truncated JSON', '{"hook_event_name":"Stop","session_id":"x"', /^malformed JSON: /],
    ['trailing garbage', '{"a":1} x', /^malformed JSON: /],
    ['array', '[]', /^not a JSON object: array/],
    ['null', 'null', /^not a JSON object: null/],
    ['number', '42', /^not a JSON object: number/],
    ['string', '"hi"', /^not a JSON object: string/],
    ['missing hook_event_name', { session_id: 's' }, /^missing hook_event_name$/],
    ['hook_event_name not a string', { session_id: 's', hook_event_name: 7 }, /^invalid hook_event_name$/],
    ['hook_event_name empty', { session_id: 's', hook_event_name: '' }, /^invalid hook_event_name$/],
    [
      'hook_event_name with spaces',
      { session_id: 's', hook_event_name: 'Pre Tool' },
      /^invalid hook_event_name$/,
    ],
    ['missing session_id', { hook_event_name: 'Stop' }, /^missing session_id$/],
    ['session_id not a string', { hook_event_name: 'Stop', session_id: 12 }, /^invalid session_id$/],
    ['session_id empty', { hook_event_name: 'Stop', session_id: '' }, /^invalid session_id$/],
    ['session_id with a newline', { hook_event_name: 'Stop', session_id: 'a\nb' }, /^invalid session_id$/],
  ];
  for (const [name, body, reason] of bad) {
    test(name, () => {
      assert.throws(
        () => normalize(rec(body as Obj), ctx()),
        (err: unknown) => err instanceof QuarantineError && reason.test(err.reason),
      );
    });
  }

  test('a UTF-8 BOM is accepted', () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ ...BASE, hook_event_name: 'Stop' })),
    ]);
    assert.equal(normalize(rec(body), ctx()).event_type, 'agent_stop');
  });

  test('an invalid mtime is quarantined, not thrown raw', () => {
    assert.throws(
      () => normalize(rec({ ...BASE, hook_event_name: 'Stop' }, { mtimeMs: Number.NaN }), ctx()),
      QuarantineError,
    );
  });
});

describe('normalize: ids', () => {
  test('eventIdFor = the file time in ms (12 hex) + the first 20 hex of sha256(name \\n body)', () => {
    const r = rec(
      { ...BASE, hook_event_name: 'Stop' },
      { name: '99.abc.project', mtimeMs: 1_790_000_000_123.75 },
    );
    const hash = createHash('sha256').update('99.abc.project\n').update(r.body).digest('hex');
    const expected = `${(1_790_000_000_123).toString(16).padStart(12, '0')}${hash.slice(0, 20)}`;
    assert.equal(expected.length, 32);
    assert.equal(eventIdFor(r), expected);
    assert.equal(normalize(r, ctx()).id, expected);
    assert.notEqual(eventIdFor({ ...r, name: '100.abc.project' }), expected);
    assert.notEqual(eventIdFor({ ...r, body: Buffer.concat([r.body, Buffer.from(' ')]) }), expected);
    assert.notEqual(eventIdFor({ ...r, mtimeMs: r.mtimeMs + 1 }), expected);
  });

  test('ids of later files sort after ids of earlier ones', () => {
    const ids = [0, 1, 999, 1_000_000, 1_790_000_000_000].map((ms) =>
      eventIdFor(rec({ ...BASE, hook_event_name: 'Stop' }, { mtimeMs: ms })),
    );
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });
});

// ---- secrets ------------------------------------------------------------------------------------------

function fill(n: number, seed: number): string {
  const a = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let out = '';
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += a[x % a.length];
  }
  return out;
}
const SECRETS = {
  anthropic: `sk-ant-api03-${fill(93, 1)}AA`,
  github: `ghp_${fill(36, 2)}`,
  aws: `AKIA${fill(16, 3).toUpperCase().replace(/[019]/g, 'Q')}`,
  slack: `xoxb-1234567890-${fill(24, 4)}`,
  stripe: `sk_live_${fill(24, 5)}`,
  jwt: `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${fill(43, 6)}`,
  npm: `npm_${fill(36, 7)}`,
  google: `AIza${fill(35, 8)}`,
  password: `Pw-${fill(14, 9)}`,
};

describe('normalize: no secret survives', () => {
  const s = SECRETS;
  const planted: [string, Obj][] = [
    [
      'Bash command + description',
      tool('PreToolUse', 'Bash', {
        command: `curl -H "Authorization: Bearer ${s.jwt}" https://api.x`,
        description: `use ${s.github}`,
      }),
    ],
    [
      'Bash env assignment',
      tool('PreToolUse', 'Bash', { command: `DB_PASSWORD=${s.password} ./migrate --token ${s.npm}` }),
    ],
    [
      'Bash output',
      tool(
        'PostToolUse',
        'Bash',
        { command: 'env' },
        { tool_response: { stdout: `AWS_KEY=${s.aws}\n`, stderr: s.slack, interrupted: false } },
      ),
    ],
    [
      'WebFetch URL',
      tool('PreToolUse', 'WebFetch', {
        url: `https://user:${s.password}@example.com/?key=${s.google}`,
        prompt: 'x',
      }),
    ],
    [
      'Write content',
      tool(
        'PostToolUse',
        'Write',
        { file_path: `${PROJECT}/.env`, content: `STRIPE=${s.stripe}\n` },
        { tool_response: { type: 'create', content: `STRIPE=${s.stripe}\n`, structuredPatch: [] } },
      ),
    ],
    [
      'Edit strings',
      tool(
        'PostToolUse',
        'Edit',
        { file_path: `${PROJECT}/a`, old_string: s.anthropic, new_string: s.github },
        {
          tool_response: {
            oldString: s.anthropic,
            newString: s.github,
            originalFile: s.anthropic,
            structuredPatch: [{ lines: [`-${s.anthropic}`, `+${s.github}`] }],
          },
        },
      ),
    ],
    [
      'MultiEdit strings',
      tool('PreToolUse', 'MultiEdit', {
        file_path: `${PROJECT}/a`,
        edits: [{ old_string: s.aws, new_string: s.npm }],
      }),
    ],
    [
      'Read content',
      tool(
        'PostToolUse',
        'Read',
        { file_path: `${PROJECT}/.env` },
        {
          tool_response: {
            type: 'text',
            file: { filePath: `${PROJECT}/.env`, content: `KEY=${s.anthropic}` },
          },
        },
      ),
    ],
    [
      'prompt',
      {
        ...BASE,
        hook_event_name: 'UserPromptSubmit',
        prompt: `my key is ${s.anthropic} and password: ${s.password}`,
      },
    ],
    [
      'Agent prompt',
      tool('PreToolUse', 'Agent', {
        prompt: `use ${s.github}`,
        description: `with ${s.slack}`,
        subagent_type: 'general-purpose',
      }),
    ],
    [
      'tool error',
      tool(
        'PostToolUseFailure',
        'Bash',
        { command: 'deploy' },
        { error: `Exit code 1\nAuthorization: Bearer ${s.jwt} rejected; token=${s.password}` },
      ),
    ],
    [
      'stop failure details',
      {
        ...BASE,
        hook_event_name: 'StopFailure',
        error: 'authentication_failed',
        error_details: `bad key ${s.anthropic}`,
        last_assistant_message: s.anthropic,
      },
    ],
    [
      'notification',
      {
        ...BASE,
        hook_event_name: 'Notification',
        message: `token ${s.github}`,
        notification_type: 'idle_prompt',
      },
    ],
    [
      'unknown event field',
      {
        ...BASE,
        hook_event_name: 'FutureEvent',
        api_key: s.google,
        nested: { deeper: [{ password: s.password }] },
      },
    ],
    [
      'MCP input',
      tool('PreToolUse', 'mcp__db__query', {
        sql: `select '${s.stripe}'`,
        headers: { Authorization: `Bearer ${s.password}` },
        api_key: s.password,
      }),
    ],
    [
      'batch responses',
      {
        ...BASE,
        hook_event_name: 'PostToolBatch',
        tool_calls: [
          { tool_name: 'Bash', tool_input: { command: `echo ${s.npm}` }, tool_response: `out ${s.aws}` },
        ],
      },
    ],
    ['assistant text', { ...BASE, hook_event_name: 'Stop', last_assistant_message: `Here is ${s.github}` }],
    [
      'compact summary',
      { ...BASE, hook_event_name: 'PostCompact', trigger: 'auto', compact_summary: s.slack },
    ],
    ['message delta', { ...BASE, hook_event_name: 'MessageDisplay', delta: s.jwt, final: true }],
    [
      'ids and paths',
      {
        ...BASE,
        hook_event_name: 'PreToolUse',
        tool_name: 'Read',
        tool_use_id: s.github,
        prompt_id: s.npm,
        tool_input: { file_path: `/tmp/${s.anthropic}/x` },
      },
    ],
    ['key names', tool('PreToolUse', 'mcp__kv__set', { [s.github]: 'value', data: { [s.slack]: 1 } })],
  ];
  for (const capture of ['metadata', 'full'] as const) {
    for (const [name, payload] of planted) {
      test(`${capture}: ${name}`, () => {
        const ev = normalize(rec(payload), ctx({ capture }));
        const json = JSON.stringify(ev);
        for (const [kind, secret] of Object.entries(SECRETS))
          assert.ok(!json.includes(secret), `${kind} survived: ${json}`);
        // Reduced contents are hashed, not scanned: only what is kept can report a redaction.
        if (capture === 'full') {
          assert.ok(
            (ev.action_details.secrets_redacted as string[] | undefined)?.length,
            'redactions are recorded',
          );
        }
      });
    }
  }
});

// ---- properties ---------------------------------------------------------------------------------------

const onlyQuarantine = (body: Buffer, capture: 'metadata' | 'full' = 'metadata') => {
  try {
    const ev = normalize(rec(body), ctx({ capture }));
    JSON.stringify(ev);
    return true;
  } catch (err) {
    if (err instanceof QuarantineError) return true;
    throw err;
  }
};

describe('normalize: properties', () => {
  test('arbitrary bytes: an event or a QuarantineError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyQuarantine(Buffer.from(b))),
      { numRuns: 1500 },
    );
  });

  test('arbitrary JSON: an event or a QuarantineError, nothing else', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => onlyQuarantine(Buffer.from(JSON.stringify(v) ?? ''))),
      { numRuns: 1500 },
    );
  });

  const payloadArb = fc.record(
    {
      hook_event_name: fc.oneof(fc.constantFrom(...HOOK_EVENTS), fc.string({ maxLength: 20 })),
      session_id: fc.oneof(fc.uuid(), fc.string({ maxLength: 10 }), fc.integer()),
      cwd: fc.oneof(fc.constant(PROJECT), fc.constant('/tmp'), fc.string({ maxLength: 20 }), fc.integer()),
      tool_name: fc.oneof(
        fc.constantFrom(
          'Bash',
          'Read',
          'Write',
          'Edit',
          'MultiEdit',
          'Grep',
          'Glob',
          'LS',
          'Agent',
          'WebFetch',
          'mcp__a__b',
          'mcp__',
          'NotebookEdit',
        ),
        fc.string({ maxLength: 12 }),
        fc.constant(null),
      ),
      tool_input: fc.oneof(
        fc.record(
          {
            command: fc.oneof(fc.string(), fc.integer()),
            file_path: fc.oneof(fc.string(), fc.constant('/etc/x'), fc.constant('~/y')),
            content: fc.oneof(fc.string(), fc.constant(null)),
            edits: fc.array(fc.anything(), { maxLength: 3 }),
            pattern: fc.string(),
            path: fc.oneof(fc.string(), fc.integer()),
            url: fc.string(),
          },
          { requiredKeys: [] },
        ),
        fc.anything(),
      ),
      tool_response: fc.anything(),
      tool_calls: fc.oneof(fc.array(fc.anything(), { maxLength: 3 }), fc.anything()),
      effort: fc.anything(),
      error: fc.anything(),
      duration_ms: fc.oneof(fc.integer(), fc.double(), fc.string()),
    },
    { requiredKeys: ['hook_event_name', 'session_id'] },
  );

  test('payload-shaped input: an event or a QuarantineError, nothing else (both capture modes)', () => {
    fc.assert(
      fc.property(payloadArb, fc.constantFrom('metadata' as const, 'full' as const), (p, capture) =>
        onlyQuarantine(Buffer.from(JSON.stringify(p)), capture),
      ),
      { numRuns: 1500 },
    );
  });

  test('a planted secret never survives, wherever it is put', () => {
    // Tokens with a recognizable shape (a bare password needs a `password=` style marker to be found).
    const { password: _bare, ...tokens } = SECRETS;
    const secrets = Object.values(tokens);
    const sep = fc.constantFrom(' ', '\n', '"', "'", '=', ': ', ';', '(', ',', '\t');
    const text = fc
      .tuple(
        fc.string({ maxLength: 40 }),
        sep,
        fc.constantFrom(...secrets),
        fc.constantFrom(' ', '\n', ';', ')', ','),
        fc.string({ maxLength: 40 }),
      )
      .map(([a, l, s, r, b]) => ({ s, text: `${a}${l}${s}${r}${b}` }));
    const place = fc.constantFrom(
      (t: string) => tool('PreToolUse', 'Bash', { command: t, description: t }),
      (t: string) =>
        tool('PostToolUse', 'Bash', { command: 'x' }, { tool_response: { stdout: t, stderr: t } }),
      (t: string) => tool('PreToolUse', 'WebFetch', { url: t, prompt: t }),
      (t: string) =>
        tool(
          'PostToolUse',
          'Write',
          { file_path: `${PROJECT}/f`, content: t },
          { tool_response: { type: 'create', content: t, structuredPatch: [] } },
        ),
      (t: string) => tool('PreToolUse', 'Edit', { file_path: `${PROJECT}/f`, old_string: t, new_string: t }),
      (t: string) => tool('PreToolUse', 'Grep', { pattern: t, path: t }),
      (t: string) => tool('PostToolUseFailure', 'Read', { file_path: t }, { error: t }),
      (t: string) => ({ ...BASE, hook_event_name: 'UserPromptSubmit', prompt: t }),
      (t: string) => ({ ...BASE, hook_event_name: 'Notification', message: t, title: t }),
      (t: string) => ({
        ...BASE,
        hook_event_name: 'SomethingNew',
        [t.slice(0, 30)]: t,
        deep: { a: [{ b: t }] },
      }),
      (t: string) => tool('PreToolUse', 'mcp__x__y', { q: t, nested: { list: [t] } }),
      (t: string) => ({
        ...BASE,
        hook_event_name: 'PostToolBatch',
        tool_calls: [{ tool_name: 'Bash', tool_input: { command: t }, tool_response: t }],
      }),
      (t: string) => ({ ...BASE, hook_event_name: 'StopFailure', error: t, error_details: t }),
    );
    fc.assert(
      fc.property(
        text,
        place,
        fc.constantFrom('metadata' as const, 'full' as const),
        ({ s, text: t }, mk, capture) => {
          let ev: TelemetryEvent;
          try {
            ev = normalize(rec(mk(t)), ctx({ capture }));
          } catch (err) {
            if (err instanceof QuarantineError) return true;
            throw err;
          }
          return !JSON.stringify(ev).includes(s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('normalize: speed', () => {
  test('40 captured payloads x 500 (micro-check)', (t) => {
    const lines = fixtureLines(FIXTURES[0] as string);
    const recs = lines.map((p, i) => rec(p, { name: `speed.${i}` }));
    const c = ctx();
    for (const r of recs) normalize(r, c); // warm up
    const rounds = 500;
    const t0 = performance.now();
    for (let k = 0; k < rounds; k++) for (const r of recs) normalize(r, c);
    const ms = performance.now() - t0;
    const perEvent = (ms * 1000) / (rounds * recs.length);
    t.diagnostic(`normalize: ${perEvent.toFixed(1)} µs/event over ${rounds * recs.length} events`);
    assert.ok(ms < 60_000);
  });
});
