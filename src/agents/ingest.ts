/**
 * What the collector does about agents while it ingests: the agent fields of the events it normalizes
 * (context.ts, with the registry from `<data dir>/agents.yaml`) and file conflicts raised as alerts
 * (conflicts.ts, through the alert dispatcher with the channels of `<data dir>/alerts.yaml`).
 */
import { type AlertChannels, loadAlertConfig } from '../detect/alerts.ts';
import type { TelemetryEvent } from '../types.ts';
import { ConflictAlerts } from './conflicts.ts';
import { AgentContextDeriver, attachAgentContext } from './context.ts';
import { RegistryWatcher, registryFile } from './registry.ts';

export class AgentIngest {
  readonly registry: RegistryWatcher;
  /** Undefined when alerts.yaml does not validate (the security alerts say so in the log as well). */
  readonly conflicts: ConflictAlerts | undefined;

  constructor(
    home: string,
    normalizeContext: object,
    log: (msg: string) => void = () => {},
    opts: { channels?: AlertChannels; windowMs?: number } = {},
  ) {
    this.registry = new RegistryWatcher(registryFile(home), log);
    this.registry.reload();
    const registry = this.registry;
    attachAgentContext(normalizeContext, new AgentContextDeriver({ registry: () => registry.current() }));
    try {
      this.conflicts = new ConflictAlerts(home, loadAlertConfig(home), { ...opts, log });
    } catch (err) {
      this.conflicts = undefined;
      log(`agent conflict alerts disabled: ${(err as Error).message}`);
    }
  }

  /** Called with every event once it is stored. Never throws. */
  stored(ev: TelemetryEvent): void {
    try {
      this.conflicts?.observe(ev);
    } catch {
      // an alert lost is better than a batch failed
    }
  }
}
