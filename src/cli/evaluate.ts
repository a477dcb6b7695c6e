import { join } from 'node:path';
import { dataPaths } from '../config/paths.ts';
import { DetectionEngine, type Mode } from '../detect/engine.ts';
import { guardDecision, reasonText } from '../detect/guard.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, printJson } from './command.ts';

const evaluateSpec = {
  name: 'evaluate',
  summary: 'Judge one hook payload (JSON on stdin) with the security rules and print the decision as JSON.',
  usage: 'evaluate [--mode standard|strict] [--fail-closed] [--hook] < payload.json',
  options: {
    mode: { type: 'string' },
    'fail-closed': { type: 'boolean' },
    hook: { type: 'boolean' },
  },
  help: [
    '--mode MODE           standard (default) or strict: strict denies what cannot be verified',
    '--fail-closed         deny when the payload cannot be read (default: allow)',
    '--hook                print only the Claude Code hook response (usable as a PreToolUse command hook)',
  ],
  examples: [
    `echo '{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf ~"},"session_id":"s","cwd":"/tmp"}' | claude-telemetry evaluate`,
    'claude-telemetry evaluate --mode strict < payload.json',
  ],
} satisfies CommandSpec<Options>;

function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

export const evaluate: Command = {
  spec: evaluateSpec,
  async run(argv) {
    const { values } = parse(evaluateSpec, argv);
    const mode = (values.mode ?? 'standard') as Mode;
    if (mode !== 'standard' && mode !== 'strict')
      throw new UsageError(`--mode must be standard or strict, got "${values.mode}"`);
    if (process.stdin.isTTY)
      throw new UsageError(
        'evaluate reads a hook payload (JSON) on stdin; pipe one in, e.g. `... | claude-telemetry evaluate`',
      );
    const body = await readStdin();
    const engine = await DetectionEngine.create({ userRulesDir: join(dataPaths().home, 'rules') });
    const r = guardDecision(body, { engine, mode, failClosed: !!values['fail-closed'] });
    if (values.hook) {
      printJson(r.response);
      return 0;
    }
    const v = r.verdict;
    printJson({
      decision: r.decision,
      action: v?.action ?? 'none',
      mode,
      tainted: v?.tainted ?? false,
      rules: (v?.detections ?? []).map((d) => ({
        id: d.rule,
        title: d.title,
        severity: d.severity,
        action: d.action,
        reason: d.reason,
        mitre: d.mitre,
      })),
      reason: v && r.decision !== 'allow' ? reasonText(v) : (r.error ?? ''),
      ...(r.error ? { error: r.error } : {}),
    });
    return 0;
  },
};
