/**
 * Alerts: detections whose action is `alert` or stricter are written to `<data dir>/alerts/alerts.jsonl`
 * and, when configured in `<data dir>/alerts.yaml`, shown as a desktop notification (notify-send or
 * osascript, when present) and POSTed to a webhook (plain JSON or a Slack-compatible `{text}` body).
 * Repeats of one rule in one session are folded for a while and the total rate is capped. Delivery
 * runs after the current batch on the event loop and never blocks or fails ingestion.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, appendFileSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { actionRank } from './engine/ruleset.ts';
import type { Detection } from './engine.ts';

const ConfigSchema = z
  .object({
    /** Lowest action that raises an alert. */
    min_action: z.enum(['alert', 'ask', 'deny']).default('alert'),
    desktop: z.boolean().default(false),
    webhook: z
      .object({
        url: z.string().url(),
        format: z.enum(['json', 'slack']).default('json'),
        timeout_ms: z.number().int().min(100).max(30_000).default(5_000),
      })
      .optional(),
    /** The same rule in the same session alerts once per this many seconds. */
    dedup_seconds: z.number().int().min(0).default(600),
    /** At most this many alerts per minute are delivered; the rest are counted. */
    max_per_minute: z.number().int().min(1).default(20),
  })
  .strict();
export type AlertConfig = z.infer<typeof ConfigSchema>;

export const DEFAULT_ALERT_CONFIG: AlertConfig = ConfigSchema.parse({});

export interface AlertRecord {
  id: string;
  ts: string;
  rule: string;
  title: string;
  severity: string;
  action: string;
  reason: string;
  mitre: string[];
  session: string;
  project: string;
  tool: string;
  event_id?: string;
}

export function alertsDir(home: string): string {
  return join(home, 'alerts');
}
export function alertsFile(home: string): string {
  return join(alertsDir(home), 'alerts.jsonl');
}
export function ackFile(home: string): string {
  return join(alertsDir(home), 'acked.jsonl');
}
export function alertConfigFile(home: string): string {
  return join(home, 'alerts.yaml');
}

/** Reads `<data dir>/alerts.yaml`; a missing file means the defaults (log file only). */
export function loadAlertConfig(home: string): AlertConfig {
  let text: string;
  try {
    text = readFileSync(alertConfigFile(home), 'utf8');
  } catch {
    return DEFAULT_ALERT_CONFIG;
  }
  const r = ConfigSchema.safeParse(parseYaml(text) ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`${alertConfigFile(home)}: ${i?.path.join('.') || '(file)'}: ${i?.message}`);
  }
  return r.data;
}

export interface AlertContext {
  session: string;
  project: string;
  tool: string;
  eventId?: string;
}

/** Where notifications go; replaceable in tests (the log file is always written). */
export interface AlertChannels {
  desktop(title: string, body: string): Promise<void>;
  webhook(url: string, body: unknown, timeoutMs: number): Promise<void>;
}

export class AlertDispatcher {
  private readonly seen = new Map<string, number>();
  private minute = 0;
  private sentThisMinute = 0;
  suppressed = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly home: string,
    private readonly config: AlertConfig = DEFAULT_ALERT_CONFIG,
    private readonly channels: AlertChannels = systemChannels,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Records and delivers alerts for the detections of one event. Returns at once. */
  submit(detections: readonly Detection[], ctx: AlertContext, now = Date.now()): AlertRecord[] {
    const out: AlertRecord[] = [];
    const min = actionRank(this.config.min_action);
    for (const d of detections) {
      if (actionRank(d.action) < min) continue;
      const key = `${d.rule}\u0000${ctx.session}`;
      const last = this.seen.get(key);
      if (last !== undefined && now - last < this.config.dedup_seconds * 1000) continue;
      const m = Math.floor(now / 60_000);
      if (m !== this.minute) {
        this.minute = m;
        this.sentThisMinute = 0;
      }
      if (this.sentThisMinute >= this.config.max_per_minute) {
        this.suppressed++;
        continue;
      }
      this.sentThisMinute++;
      if (this.seen.size > 10_000) this.seen.clear();
      this.seen.set(key, now);
      out.push({
        id: randomUUID(),
        ts: new Date(now).toISOString(),
        rule: d.rule,
        title: d.title,
        severity: d.severity,
        action: d.action,
        reason: d.reason,
        mitre: d.mitre,
        session: ctx.session,
        project: ctx.project,
        tool: ctx.tool,
        ...(ctx.eventId ? { event_id: ctx.eventId } : {}),
      });
    }
    if (out.length > 0) this.pending = this.pending.then(() => this.deliver(out));
    return out;
  }

  /** Resolves when everything submitted so far has been delivered (or has failed). */
  flush(): Promise<void> {
    return this.pending;
  }

  private async deliver(records: AlertRecord[]): Promise<void> {
    try {
      mkdirSync(alertsDir(this.home), { recursive: true, mode: 0o700 });
      appendFileSync(alertsFile(this.home), records.map((r) => `${JSON.stringify(r)}\n`).join(''), {
        mode: 0o600,
      });
    } catch (err) {
      this.log(`alert log not written: ${(err as Error).message}`);
    }
    const tasks: Promise<void>[] = [];
    for (const r of records) {
      const title = `claude-telemetry: ${r.rule} (${r.severity}, ${r.action})`;
      if (this.config.desktop) tasks.push(this.channels.desktop(title, `${r.title} - ${r.reason}`));
      const wh = this.config.webhook;
      if (wh) {
        const body =
          wh.format === 'slack'
            ? { text: `*${title}*\n${r.title}\n${r.reason}\nsession ${r.session} · ${r.project}` }
            : r;
        tasks.push(this.channels.webhook(wh.url, body, wh.timeout_ms));
      }
    }
    for (const res of await Promise.allSettled(tasks))
      if (res.status === 'rejected')
        this.log(`alert delivery failed: ${(res.reason as Error)?.message ?? res.reason}`);
  }
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

function run(cmd: string, args: string[], timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore', timeout: timeoutMs });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

export const systemChannels: AlertChannels = {
  async desktop(title, body) {
    if (process.platform === 'darwin' && onPath('osascript')) {
      const q = (s: string) => JSON.stringify(s.slice(0, 240));
      await run('osascript', ['-e', `display notification ${q(body)} with title ${q(title)}`]);
    } else if (onPath('notify-send'))
      await run('notify-send', ['--app-name=claude-telemetry', title, body.slice(0, 400)]);
  },
  async webhook(url, body, timeoutMs) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  },
};

/** Alerts in the log file, newest last, with their acknowledgement state. */
export function readAlerts(home: string): (AlertRecord & { acked: boolean })[] {
  const acked = new Set(readLines(ackFile(home)).map((l) => String((l as { id?: string }).id ?? '')));
  return readLines(alertsFile(home)).map((r) => ({
    ...(r as AlertRecord),
    acked: acked.has((r as AlertRecord).id),
  }));
}

export function ackAlerts(home: string, ids: readonly string[]): void {
  mkdirSync(alertsDir(home), { recursive: true, mode: 0o700 });
  const ts = new Date().toISOString();
  appendFileSync(ackFile(home), ids.map((id) => `${JSON.stringify({ id, ts })}\n`).join(''), { mode: 0o600 });
}

function readLines(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn last line
    }
  }
  return out;
}
