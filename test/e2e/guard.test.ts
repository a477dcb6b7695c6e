/**
 * The guard end to end with a real Claude Code build: the project is connected with `--guard` pointing at
 * the collector's API (served here in-process on 127.0.0.1, the single writer of the sandbox's audit
 * log), a scripted session asks for a dangerous Bash command, and the command must not run: Claude Code
 * reports the denial with the guard's reason, the target still exists, and the decision is in the audit
 * log and the store. Skips when Claude Code is not installed (see README.md).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../src/audit/index.ts';
import { installHook } from '../../src/capture/install.ts';
import { connect as connectSettings } from '../../src/capture/settings.ts';
import { Pipeline } from '../../src/collector/pipeline.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { dataPaths } from '../../src/config/paths.ts';
import { type ApiServer, startApiServer } from '../../src/server/index.ts';
import { Store } from '../../src/store/index.ts';
import {
  CLAUDE_BIN,
  claudeArgs,
  claudeEnv,
  claudeInstalled,
  makeSandbox,
  parseStreamJson,
  REPO_ROOT,
  type RunResult,
  run,
  type Sandbox,
} from './harness.ts';
import { type MockAnthropic, startMockAnthropic } from './mock-anthropic.ts';

const skip =
  claudeInstalled() || process.env.CI
    ? false
    : `Claude Code is not installed at ${relative(REPO_ROOT, CLAUDE_BIN)}; run: bash scripts/install-claude-code.sh`;

const DANGEROUS = 'rm -rf ~/precious';

describe('guard with real Claude Code', { skip, timeout: 150_000 }, () => {
  let sb: Sandbox;
  let mock: MockAnthropic;
  let api: ApiServer;
  let audit: AuditLog;
  let store: Store;
  let claude: RunResult;

  before(async () => {
    sb = makeSandbox('ct-e2e-guard-');
    mkdirSync(join(sb.home, 'precious'), { recursive: true });
    writeFileSync(join(sb.home, 'precious', 'keep.txt'), 'do not delete\n');
    const paths = dataPaths(sb.data);
    installHook(paths);
    audit = AuditLog.open(paths.audit, { keysDir: paths.keys });
    store = Store.open(paths.storeFile);
    const pipeline = new Pipeline(paths, DEFAULT_CONFIG, audit, store);
    await pipeline.recover();
    api = await startApiServer({ store, pipeline, host: '127.0.0.1', port: 0 });
    connectSettings({ paths, target: 'project', projectDir: sb.project, guard: { url: api.url } });
    mock = await startMockAnthropic({
      scenario: {
        main: [
          { tools: [{ name: 'Bash', input: { command: DANGEROUS, description: 'Clean up' } }] },
          { text: 'Stopped: the guard refused the command.' },
        ],
        subagent: [{ text: 'nothing to do' }],
      },
      logFile: join(sb.logs, 'mock-requests.jsonl'),
    });
    claude = await run(CLAUDE_BIN, claudeArgs('Clean up the precious directory'), {
      cwd: sb.project,
      env: claudeEnv(sb, mock.url),
      timeoutMs: 90_000,
    });
    writeFileSync(join(sb.logs, 'stream.jsonl'), claude.stdout);
    writeFileSync(join(sb.logs, 'claude.stderr'), claude.stderr);
  });

  after(async () => {
    await mock?.close();
    await api?.close();
    audit?.close();
    store?.close();
    if (sb && !process.env.CT_E2E_KEEP) rmSync(sb.root, { recursive: true, force: true });
    else if (sb) process.stderr.write(`sandbox kept: ${sb.root}\n`);
  });

  it('claude ran to the end', () => {
    assert.equal(claude.timedOut, false, claude.stderr);
    assert.equal(claude.code, 0, claude.stderr.slice(0, 2000));
  });

  it('the command did not run: its target is still there', () => {
    assert.ok(existsSync(join(sb.home, 'precious', 'keep.txt')));
  });

  it("Claude Code reported the guard's denial with the rule and reason", () => {
    const lines = parseStreamJson(claude.stdout);
    const text = JSON.stringify(lines);
    assert.match(text, /CT-DESTR-00[12]/);
    assert.match(text, /Blocked by the claude-telemetry guard/);
    const requests = readFileSync(join(sb.logs, 'mock-requests.jsonl'), 'utf8');
    assert.match(requests, /is_error/);
  });

  it('the decision is in the audit log and the store', async () => {
    const decisions = store
      .query({ limit: 100, order: 'asc' })
      .filter((e) => e.event_type === 'guard_decision');
    assert.equal(decisions.length, 1);
    assert.equal(decisions[0]?.action_details.decision, 'deny');
    assert.equal(decisions[0]?.action_details.command, DANGEROUS);
    let found = false;
    for await (const entry of audit.readFrom(1))
      if (JSON.stringify(entry).includes('guard_decision')) found = true;
    assert.ok(found);
  });
});
