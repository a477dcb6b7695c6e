/**
 * What the collector does about agents while it ingests: the agent fields of the events it normalizes
 * (context.ts, with the registry from `<data dir>/agents.yaml`) and file conflicts raised as alerts
 * (conflicts.ts, through the alert dispatcher with the channels of `<data dir>/alerts.yaml`).
 */
import { type AlertChannels, loadAlertConfig } from '../detect/alerts.ts';
import type { TelemetryEvent } from '../types.ts';
import { ConflictAlerts, type ObservedAccess } from './conflicts.ts';
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

  /**
   * What `stored` will need of these events, taken while they are at hand: a batch's events can then be let
   * go before its store insert settles, instead of surviving young-generation collections meanwhile.
   */
  pendingOf(events: readonly TelemetryEvent[]): ObservedAccess[] {
    const out: ObservedAccess[] = [];
    if (this.conflicts === undefined) return out;
    for (const ev of events) {
      const o = ConflictAlerts.observedOf(ev);
      if (o !== undefined) out.push(o);
    }
    return out;
  }

  /** Called once the events `pendingOf` looked at are stored. Never throws. */
  stored(pending: readonly ObservedAccess[]): void {
    for (const o of pending) {
      try {
        this.conflicts?.observeAccess(o);
      } catch {
        // an alert lost is better than a batch failed
      }
    }
  }
}
