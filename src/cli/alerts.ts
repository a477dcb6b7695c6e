import { dataPaths } from '../config/paths.ts';
import {
  AlertDispatcher,
  ackAlerts,
  alertConfigFile,
  loadAlertConfig,
  readAlerts,
} from '../detect/alerts.ts';
import { type CommandSpec, type Options, parse, UsageError } from './args.ts';
import { type Command, printJson, println } from './command.ts';
import { plural, shortTime, table } from './format.ts';

const alertsSpec = {
  name: 'alerts',
  summary: 'Security alerts: list the open ones, acknowledge them, send a test alert.',
  usage: 'alerts [list [--all]] | ack ID... | ack --all | test   [--json]',
  positionals: true,
  options: { all: { type: 'boolean' }, json: { type: 'boolean' } },
  help: [
    'list                  alerts not yet acknowledged, oldest first (the default)',
    '--all                 with list: acknowledged ones too; with ack: acknowledge every open alert',
    'ack ID...             acknowledge alerts (a unique prefix of the id is enough)',
    'test                  send a test alert through the configured channels (<data dir>/alerts.yaml)',
    '--json                machine-readable output',
  ],
  examples: ['claude-telemetry alerts', 'claude-telemetry alerts ack 3f2a', 'claude-telemetry alerts test'],
} satisfies CommandSpec<Options>;

export const alerts: Command = {
  spec: alertsSpec,
  async run(argv) {
    const { values, positionals } = parse(alertsSpec, argv);
    const home = dataPaths().home;
    const [sub, ...ids] = positionals;
    switch (sub) {
      case undefined:
      case 'list': {
        const list = readAlerts(home).filter((a) => values.all || !a.acked);
        if (values.json) printJson(list);
        else if (list.length === 0) println(values.all ? 'no alerts yet' : 'no open alerts');
        else {
          println(
            table(
              ['id', 'time', 'rule', 'severity', 'action', 'session', 'reason'],
              list.map((a) => [
                a.id.slice(0, 8),
                shortTime(a.ts),
                a.rule,
                a.severity,
                a.action,
                a.session.slice(0, 8),
                a.reason,
              ]),
              80,
            ),
          );
          println(plural(list.length, 'alert'));
        }
        return 0;
      }
      case 'ack': {
        const open = readAlerts(home).filter((a) => !a.acked);
        let chosen: string[];
        if (values.all) chosen = open.map((a) => a.id);
        else {
          if (ids.length === 0)
            throw new UsageError('ack needs alert ids (see `claude-telemetry alerts`) or --all');
          chosen = ids.map((p) => {
            const hits = open.filter((a) => a.id.startsWith(p));
            if (hits.length !== 1)
              throw new UsageError(
                hits.length === 0
                  ? `no open alert with id ${p}`
                  : `id ${p} matches ${hits.length} alerts; give more characters`,
              );
            return (hits[0] as { id: string }).id;
          });
        }
        if (chosen.length > 0) ackAlerts(home, chosen);
        if (values.json) printJson({ acked: chosen });
        else println(`acknowledged ${plural(chosen.length, 'alert')}`);
        return 0;
      }
      case 'test': {
        const config = loadAlertConfig(home);
        const failures: string[] = [];
        const d = new AlertDispatcher(home, { ...config, dedup_seconds: 0 }, undefined, (m) =>
          failures.push(m),
        );
        const sent = d.submit(
          [
            {
              rule: 'CT-TEST-000',
              title: 'Test alert',
              severity: 'low',
              action: 'alert',
              reason: 'This is a test of the alert channels.',
              mitre: [],
            },
          ],
          { session: 'alerts-test', project: '', tool: '' },
        );
        await d.flush();
        const channels = [
          'log file',
          ...(config.desktop ? ['desktop'] : []),
          ...(config.webhook ? [`webhook (${config.webhook.format})`] : []),
        ];
        if (values.json) printJson({ sent: sent.length, channels, failures });
        else {
          println(`test alert sent to: ${channels.join(', ')}`);
          if (!config.desktop && !config.webhook)
            println(
              `only the log file is configured; add desktop: true or a webhook to ${alertConfigFile(home)}`,
            );
          for (const f of failures) println(`failed: ${f}`);
        }
        return failures.length === 0 ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown subcommand "${sub}": use list, ack or test`);
    }
  },
};
