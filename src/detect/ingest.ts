/**
 * Detection on ingest: every normalized event is judged by the engine right after normalization; hits
 * are stored with the event (`detections`) and alerts go out asynchronously. Cheap by construction:
 * events no rule looks at are skipped, command analyses are cached (Pre and Post of one call carry
 * the same command), and an event's content is only decoded when its raw payload could interest a
 * content rule (see the `content_triggers` list).
 */
import { join } from 'node:path';
import { type EventDetection, isObject, type SpoolRecord, type TelemetryEvent } from '../types.ts';
import { AlertDispatcher, loadAlertConfig } from './alerts.ts';
import { DetectionEngine } from './engine.ts';
import { contentOf } from './input.ts';

const NON_ASCII = /[\x80-\xff]/;

export class IngestDetection {
  private engine: DetectionEngine | undefined;
  private loading: Promise<void> | undefined;
  private alerts: AlertDispatcher | undefined;
  private trigger: RegExp | undefined;

  constructor(
    private readonly home: string,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Loads the grammar and the rules; until then events pass through undetected. */
  ready(): Promise<void> {
    this.loading ??= DetectionEngine.create({ userRulesDir: join(this.home, 'rules') }).then(
      (engine) => {
        this.engine = engine;
        for (const p of engine.ruleSet.problems) this.log(`rules: ${p.file}: ${p.message}`);
        const words = engine.ruleSet.lists.get('content_triggers') ?? [];
        this.trigger = new RegExp(
          words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|') || '$^',
          'i',
        );
        try {
          this.alerts = new AlertDispatcher(this.home, loadAlertConfig(this.home), undefined, this.log);
        } catch (err) {
          this.log(`alerts disabled: ${(err as Error).message}`);
        }
      },
      (err: unknown) => this.log(`detection disabled: ${(err as Error)?.message ?? err}`),
    );
    return this.loading;
  }

  get engineIfReady(): DetectionEngine | undefined {
    return this.engine;
  }

  /** Judges one event in place (adds `detections` when a rule hits). Never throws. */
  apply(ev: TelemetryEvent, rec: SpoolRecord): void {
    const engine = this.engine;
    if (engine === undefined || !engine.watches(ev.hook_event, ev.project_path)) return;
    try {
      const raw = ev.raw_input;
      const input = isObject(raw.tool_input) ? raw.tool_input : {};
      const verdict = engine.evaluate({
        event: ev.hook_event,
        tool: ev.tool_name ?? '',
        input,
        sessionId: ev.session_id,
        cwd: ev.cwd ?? ev.project_path,
        projectRoot: ev.project_path,
        permissionMode: ev.permission_mode,
        secrets: Array.isArray(ev.action_details.secrets_redacted)
          ? (ev.action_details.secrets_redacted as string[])
          : [],
        at: Date.parse(ev.timestamp) || Date.now(),
        content: () => this.contentOf(ev, rec),
      });
      if (verdict.detections.length === 0) return;
      ev.detections = verdict.detections.map(
        (d): EventDetection => ({
          rule: d.rule,
          severity: d.severity,
          action: d.action,
          reason: d.reason,
          mitre: d.mitre,
        }),
      );
      this.alerts?.submit(verdict.detections, {
        session: ev.session_id,
        project: ev.project_name,
        tool: ev.tool_name ?? '',
        eventId: ev.id,
      });
    } catch (err) {
      this.log(`detection failed on ${ev.id}: ${(err as Error)?.message ?? err}`);
    }
  }

  private contentOf(ev: TelemetryEvent, rec: SpoolRecord): string {
    const bytes = rec.body.toString('latin1');
    if (!this.trigger?.test(bytes) && !NON_ASCII.test(bytes)) return '';
    try {
      const p = JSON.parse(rec.body.toString('utf8')) as Record<string, unknown>;
      const input = isObject(p.tool_input) ? p.tool_input : {};
      return contentOf(ev.hook_event, ev.tool_name ?? '', input, p.tool_response ?? p.tool_result, p);
    } catch {
      return '';
    }
  }

  flushAlerts(): Promise<void> {
    return this.alerts?.flush() ?? Promise.resolve();
  }
}
