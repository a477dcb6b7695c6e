import { join } from 'node:path';
import { stringify } from 'yaml';
import { dataPaths } from '../config/paths.ts';
import { loadRuleSet, type RuleSet, yamlFilesIn } from '../detect/engine/ruleset.ts';
import { runRuleTests } from '../detect/engine/testing.ts';
import { loadBashParser } from '../detect/shell/grammar.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural, table } from './format.ts';

const rulesSpec = {
  name: 'rules',
  summary: 'Security rules: list them, run their inline tests, lint rule files, explain one rule.',
  usage: 'rules list | test [ID...] | lint [FILE...] | explain ID   [--project DIR] [--json]',
  positionals: true,
  options: { project: { type: 'string' }, json: { type: 'boolean' } },
  help: [
    'list                  every rule in force: shipped, <data dir>/rules/*.yaml, .claude-telemetry/rules/*.yaml',
    "test [ID...]          run the rules' inline tests (all, or the ids given; * globs work); exit 1 on a failure",
    "lint [FILE...]        check rule files (default: the user's and the project's) and their tests",
    'explain ID            what a rule matches, its action, MITRE ids and examples',
    '--project DIR         project whose .claude-telemetry/rules are included (default: current directory)',
    '--json                machine-readable output',
  ],
  examples: [
    'claude-telemetry rules list',
    'claude-telemetry rules test CT-CRED-*',
    'claude-telemetry rules explain CT-EXFIL-002',
  ],
} satisfies CommandSpec<Options>;

function currentRules(projectDir: string, extraFiles: string[] = []): RuleSet {
  return loadRuleSet({
    userFiles: [...yamlFilesIn(join(dataPaths().home, 'rules')), ...extraFiles],
    projectFiles: yamlFilesIn(join(projectDir, '.claude-telemetry', 'rules')),
  });
}

function idMatcher(patterns: string[]): ((id: string) => boolean) | undefined {
  if (patterns.length === 0) return undefined;
  const res = patterns.map(
    (p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'),
  );
  return (id) => res.some((r) => r.test(id));
}

export const rules: Command = {
  spec: rulesSpec,
  async run(argv) {
    const { values, positionals } = parse(rulesSpec, argv);
    const [sub, ...args] = positionals;
    const projectDir = values.project ?? process.cwd();
    switch (sub) {
      case 'list':
      case undefined: {
        const set = currentRules(projectDir);
        const rows = set.rules.map((r) => ({
          id: r.id,
          severity: r.severity,
          action: r.action,
          strict_action: r.strictAction,
          enabled: r.def.enabled,
          scope: r.scope,
          title: r.def.title,
          mitre: r.def.mitre,
        }));
        if (values.json) printJson(rows);
        else {
          println(
            table(
              ['id', 'severity', 'action', 'strict', 'scope', 'title'],
              rows.map((r) => [
                r.enabled ? r.id : `${r.id} (off)`,
                r.severity,
                r.action,
                r.strict_action,
                r.scope,
                r.title,
              ]),
              70,
            ),
          );
          println(plural(rows.length, 'rule'));
          for (const p of set.problems) println(`problem: ${p.file}: ${p.message}`);
        }
        return 0;
      }
      case 'test': {
        const parser = await loadBashParser().catch(() => null);
        const report = runRuleTests(currentRules(projectDir), idMatcher(args), parser);
        if (values.json) printJson(report);
        else {
          for (const f of report.failures)
            println(
              `FAIL ${f.rule} ${f.kind}[${f.index}]: ${JSON.stringify(f.case.input)} -> ${f.got.join(', ') || 'no rule hit'}`,
            );
          println(
            `${plural(report.rules, 'rule')}, ${plural(report.cases, 'case')}, ${plural(report.failures.length, 'failure')}`,
          );
        }
        return report.failures.length === 0 ? 0 : 1;
      }
      case 'lint': {
        const set = currentRules(projectDir, args);
        const parser = await loadBashParser().catch(() => null);
        const fromFiles = (id: string) => set.rules.some((r) => r.id === id && r.scope !== 'default');
        const report = runRuleTests(set, fromFiles, parser);
        const problems = [
          ...set.problems.map((p) => `${p.file}: ${p.message}`),
          ...report.failures.map(
            (f) =>
              `${f.rule}: inline test ${f.kind}[${f.index}] fails (${f.got.join(', ') || 'no rule hit'})`,
          ),
        ];
        if (values.json) printJson({ files: set.files, problems });
        else {
          for (const p of problems) println(p);
          println(
            `${plural(set.files.filter((f) => f.scope !== 'default').length, 'rule file')} checked, ${plural(problems.length, 'problem')}`,
          );
        }
        return problems.length === 0 ? 0 : 1;
      }
      case 'explain': {
        const id = args[0];
        if (id === undefined)
          throw new UsageError('rules explain needs a rule id, e.g. CT-CRED-001 (see `rules list`)');
        const rule = currentRules(projectDir).rules.find((r) => r.id.toLowerCase() === id.toLowerCase());
        if (!rule) throw new UsageError(`no rule "${id}"; \`claude-telemetry rules list\` shows the ids`);
        if (values.json) {
          printJson({
            ...rule.def,
            action: rule.action,
            strict_action: rule.strictAction,
            scope: rule.scope,
            file: rule.file,
          });
          return 0;
        }
        const d = rule.def;
        println(`${rule.id}: ${d.title}`);
        if (d.description) println(`\n${d.description}`);
        println(
          `\nseverity ${d.severity}; action ${rule.action} (strict: ${rule.strictAction}); ${rule.overridable ? 'overridable' : 'not overridable'}`,
        );
        println(`events ${d.events.join(', ')}; tools ${d.tools.join(', ')}; judged per ${d.each}`);
        println(`MITRE ATT&CK: ${d.mitre.join(', ')}`);
        if (d.sets_taint) println('a hit marks the session as tainted');
        if (d.escalate_when_tainted) println('one step stricter in a tainted session');
        if (d.requires_taint) println('only judged in a tainted session');
        if (d.threshold)
          println(
            `fires after ${d.threshold.count} hits of ${d.threshold.of.join(', ')} within ${d.threshold.window} in one session`,
          );
        if (d.detection) println(`\ndetection:\n${stringify(d.detection).replace(/^/gm, '  ')}`);
        if (d.exceptions.length > 0) println(`exceptions:\n${stringify(d.exceptions).replace(/^/gm, '  ')}`);
        println(`message: ${d.message.trim()}`);
        const ex = (d.tests?.match ?? []).slice(0, 5).map((t) => `  ${t.tool}: ${JSON.stringify(t.input)}`);
        if (ex.length > 0) println(`\nmatches, for example:\n${ex.join('\n')}`);
        const no = (d.tests?.no_match ?? [])
          .slice(0, 5)
          .map((t) => `  ${t.tool}: ${JSON.stringify(t.input)}`);
        if (no.length > 0) println(`does not match:\n${no.join('\n')}`);
        println(`\nfrom ${rule.file} (${rule.scope})`);
        return 0;
      }
      default:
        throw new UsageError(`unknown subcommand "${sub}": use list, test, lint or explain`);
    }
  },
};
