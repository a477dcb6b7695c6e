import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  DEFAULT_RETENTION,
  type RetentionConfig,
  type RetentionKind,
  type RetentionLimit,
} from '../ops/retention-config.ts';
import { DEFAULT_FORWARDING, type ForwardingConfig, parseForwardingConfig } from '../sinks/config.ts';
import type { PriceTable } from '../usage/pricing.ts';
import type { DataPaths } from './paths.ts';

/** User configuration (`<data dir>/config.yaml`). Every key is optional; defaults below. */
export interface Config extends ForwardingConfig {
  /** 'metadata' (default): contents, prompts and tool output reduced to size/lines/sha256. 'full': kept, redacted. */
  capture: 'metadata' | 'full';
  ingest: {
    /** Spool files per batch (one audit fsync and one store transaction per batch). */
    batchSize: number;
    /** Periodic rescan of the spool in addition to fs.watch, in ms. */
    rescanMs: number;
    /** Payloads larger than this are quarantined with a reason. */
    maxPayloadBytes: number;
    /** Files stuck in spool/tmp longer than this (writer died before rename) are recovered. */
    orphanAfterMs: number;
  };
  audit: {
    /** Signed checkpoint every N entries (also on idle and on shutdown). */
    checkpointEvery: number;
  };
  /** The Loki-compatible HTTP API (push, query, labels, series, tail). */
  server: {
    enabled: boolean;
    /** Loopback by default: the API has no authentication, so another address opens it to that network. */
    host: string;
    /** 0 picks a free port. */
    port: number;
    /** Largest request body, compressed or once decoded (413 above it). */
    maxBodyBytes: number;
  };
  /** How long events, audit day files, quarantined inputs and logs are kept (src/ops/retention-config.ts). */
  retention: RetentionConfig;
  /** Model prices (USD per million tokens) over the built-in list prices; see src/usage/pricing.ts. */
  pricing: PriceTable;
  /** The web dashboard the collector serves (static files and the read-only Loki routes it calls). */
  dashboard: {
    enabled: boolean;
    /** Loopback by default; any other address needs `token`. */
    host: string;
    /** 0 picks a free port. */
    port: number;
    /** Required when host is not a loopback address: open the dashboard once with ?token=<token>. */
    token?: string;
  };
  /** Behavioural analytics inside the collector: sessions scored as they progress (src/analytics/service.ts). */
  analytics: {
    enabled: boolean;
    /** Anomaly risk (0-100) from which a session raises an alert. */
    threshold: number;
    /** A session receiving events is scored again at most this often (ms). */
    rescoreMs: number;
    /** The model is retrained when it is older than this (hours)... */
    retrainHours: number;
    /** ...or when the stored sessions grew by this fraction since it was trained. */
    retrainGrowth: number;
  };
}

export const DEFAULT_CONFIG: Config = {
  capture: 'metadata',
  ingest: { batchSize: 1000, rescanMs: 1000, maxPayloadBytes: 16 * 1024 * 1024, orphanAfterMs: 5 * 60_000 },
  audit: { checkpointEvery: 1000 },
  server: { enabled: true, host: '127.0.0.1', port: 3100, maxBodyBytes: 16 * 1024 * 1024 },
  retention: DEFAULT_RETENTION,
  pricing: {},
  dashboard: { enabled: true, host: '127.0.0.1', port: 3000 },
  analytics: { enabled: true, threshold: 70, rescoreMs: 5_000, retrainHours: 24, retrainGrowth: 0.2 },
  ...DEFAULT_FORWARDING,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The dotted key at fault (as written in config.yaml), when one is. */
  readonly key: string | undefined;
  constructor(message: string, key?: string) {
    super(message);
    this.key = key;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The schema of config.yaml as written (snake_case keys), read into Config with the defaults filled in. A
// key left empty (YAML null) takes its default, except retention limits, where null means "keep".

const d = DEFAULT_CONFIG;

const positive = (what = 'a positive number') => z.number({ error: what }).positive({ error: what });
const orDefault =
  <T>(fallback: T) =>
  (v: T | null | undefined): T =>
    v === null || v === undefined ? fallback : v;

const ingestKeys = z.strictObject({
  batch_size: positive().int({ error: 'a positive integer' }).nullish(),
  rescan_ms: positive('a positive number of milliseconds').nullish(),
  max_payload_bytes: positive('a positive number of bytes').nullish(),
  orphan_after_ms: positive('a positive number of milliseconds').nullish(),
});
const ingestSchema = ingestKeys.nullish().transform((v): Config['ingest'] => ({
  batchSize: orDefault(d.ingest.batchSize)(v?.batch_size),
  rescanMs: orDefault(d.ingest.rescanMs)(v?.rescan_ms),
  maxPayloadBytes: orDefault(d.ingest.maxPayloadBytes)(v?.max_payload_bytes),
  orphanAfterMs: orDefault(d.ingest.orphanAfterMs)(v?.orphan_after_ms),
}));

const auditKeys = z.strictObject({
  checkpoint_every: positive().int({ error: 'a positive integer' }).nullish(),
});
const auditSchema = auditKeys.nullish().transform((v): Config['audit'] => ({
  checkpointEvery: orDefault(d.audit.checkpointEvery)(v?.checkpoint_every),
}));

const serverKeys = z.strictObject({
  enabled: z.boolean({ error: 'true or false' }).nullish(),
  host: z
    .string({ error: 'a host name or address' })
    .refine((h) => h.trim() !== '', { error: 'a host name or address' })
    .nullish(),
  port: z
    .number({ error: 'an integer from 0 to 65535' })
    .int({ error: 'an integer from 0 to 65535' })
    .min(0, { error: 'an integer from 0 to 65535' })
    .max(65535, { error: 'an integer from 0 to 65535' })
    .nullish(),
  max_body_bytes: positive('a positive number of bytes').nullish(),
});
const serverSchema = serverKeys.nullish().transform((v): Config['server'] => ({
  enabled: orDefault(d.server.enabled)(v?.enabled),
  host: orDefault(d.server.host)(v?.host),
  port: orDefault(d.server.port)(v?.port),
  maxBodyBytes: orDefault(d.server.maxBodyBytes)(v?.max_body_bytes),
}));

const dashboardKeys = z.strictObject({
  enabled: serverKeys.shape.enabled,
  host: serverKeys.shape.host,
  port: serverKeys.shape.port,
  token: z
    .string({ error: 'a string of at least 16 characters' })
    .min(16, { error: 'a string of at least 16 characters' })
    .nullish(),
});
const dashboardSchema = dashboardKeys.nullish().transform((v): Config['dashboard'] => ({
  enabled: orDefault(d.dashboard.enabled)(v?.enabled),
  host: orDefault(d.dashboard.host)(v?.host),
  port: orDefault(d.dashboard.port)(v?.port),
  ...(v?.token ? { token: v.token } : {}),
}));

const analyticsKeys = z.strictObject({
  enabled: serverKeys.shape.enabled,
  threshold: z
    .number({ error: 'a number from 0 to 100' })
    .min(0, { error: 'a number from 0 to 100' })
    .max(100, { error: 'a number from 0 to 100' })
    .nullish(),
  rescore_ms: positive('a positive number of milliseconds').nullish(),
  retrain_hours: positive('a positive number of hours').nullish(),
  retrain_growth: positive('a positive fraction (0.2 = 20%)').nullish(),
});
const analyticsSchema = analyticsKeys.nullish().transform((v): Config['analytics'] => ({
  enabled: orDefault(d.analytics.enabled)(v?.enabled),
  threshold: orDefault(d.analytics.threshold)(v?.threshold),
  rescoreMs: orDefault(d.analytics.rescoreMs)(v?.rescore_ms),
  retrainHours: orDefault(d.analytics.retrainHours)(v?.retrain_hours),
  retrainGrowth: orDefault(d.analytics.retrainGrowth)(v?.retrain_growth),
}));

const limitKeys = z.strictObject({
  max_age_days: positive('a positive number of days, or null to keep').nullable().optional(),
  max_size_mb: positive('a positive number of megabytes, or null to keep').nullable().optional(),
});
const limitSchema = (kind: RetentionKind) =>
  limitKeys.nullish().transform(
    (v): RetentionLimit => ({
      maxAgeDays: v?.max_age_days === undefined ? DEFAULT_RETENTION[kind].maxAgeDays : v.max_age_days,
      maxSizeMb: v?.max_size_mb === undefined ? DEFAULT_RETENTION[kind].maxSizeMb : v.max_size_mb,
    }),
  );

const retentionKeys = z.strictObject({
  events: limitSchema('events'),
  audit: limitSchema('audit'),
  quarantine: limitSchema('quarantine'),
  logs: limitSchema('logs'),
});
const retentionSchema = retentionKeys.nullish().transform(
  (v): RetentionConfig => ({
    events: v?.events ?? { ...DEFAULT_RETENTION.events },
    audit: v?.audit ?? { ...DEFAULT_RETENTION.audit },
    quarantine: v?.quarantine ?? { ...DEFAULT_RETENTION.quarantine },
    logs: v?.logs ?? { ...DEFAULT_RETENTION.logs },
  }),
);

const usd = () => z.number({ error: 'a price in USD per million tokens' }).min(0, { error: 'a price >= 0' });
const priceKeys = z.strictObject({
  input: usd(),
  output: usd(),
  cache_write: usd().nullish(),
  cache_write_1h: usd().nullish(),
  cache_read: usd().nullish(),
});
const pricingSchema = z
  .record(z.string(), priceKeys)
  .nullish()
  .transform(
    (v): PriceTable =>
      Object.fromEntries(
        Object.entries(v ?? {}).map(([model, p]) => [
          model,
          {
            input: p.input,
            output: p.output,
            ...(p.cache_write != null ? { cacheWrite: p.cache_write } : {}),
            ...(p.cache_write_1h != null ? { cacheWrite1h: p.cache_write_1h } : {}),
            ...(p.cache_read != null ? { cacheRead: p.cache_read } : {}),
          },
        ]),
      ),
  );

/** The sections read by this schema; sinks, routes and federation are read by src/sinks/config.ts. */
const configSchema = z.strictObject({
  capture: z
    .enum(['metadata', 'full'], { error: '"metadata" or "full"' })
    .nullish()
    .transform((v) => v ?? d.capture),
  ingest: ingestSchema,
  audit: auditSchema,
  server: serverSchema,
  retention: retentionSchema,
  pricing: pricingSchema,
  dashboard: dashboardSchema,
  analytics: analyticsSchema,
  sinks: z.unknown().optional(),
  routes: z.unknown().optional(),
  federation: z.unknown().optional(),
});

/** The keys each mapping of config.yaml may hold, by dotted path ('' for the top level). */
const KNOWN_KEYS: Record<string, string[]> = {
  '': Object.keys(configSchema.shape),
  ingest: Object.keys(ingestKeys.shape),
  audit: Object.keys(auditKeys.shape),
  server: Object.keys(serverKeys.shape),
  dashboard: Object.keys(dashboardKeys.shape),
  analytics: Object.keys(analyticsKeys.shape),
  retention: Object.keys(retentionKeys.shape),
  ...Object.fromEntries(
    Object.keys(retentionKeys.shape).map((k) => [`retention.${k}`, Object.keys(limitKeys.shape)]),
  ),
};

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const p of path)
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function keyOf(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replaceAll('.[', '[');
}

/** The first problem of a failed parse, as `key must be ..., got ...`. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown, file: string): ConfigError {
  if (issue.code === 'unrecognized_keys') {
    const key = keyOf([...issue.path, issue.keys[0] as string]);
    const known = KNOWN_KEYS[keyOf(issue.path)];
    return new ConfigError(
      `${file}: ${key} is not a setting${known ? ` (known here: ${known.join(', ')})` : ''}`,
      key,
    );
  }
  const key = keyOf(issue.path);
  const got = valueAt(raw, issue.path);
  return new ConfigError(
    `${file}: ${key} must be ${issue.message}, got ${JSON.stringify(got) ?? 'nothing'}`,
    key,
  );
}

/**
 * Reads a parsed config.yaml document into a Config (defaults filled in). Throws ConfigError naming the key
 * at fault and the value expected there.
 */
export function parseConfig(raw: unknown, file = 'config.yaml'): Config {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file} must be a YAML mapping`);
  const r = configSchema.safeParse(raw);
  if (!r.success) throw describeIssue(r.error.issues[0] as z.core.$ZodIssue, raw, file);
  const { sinks: _s, routes: _r, federation: _f, ...own } = r.data;
  return {
    ...own,
    // sinks, routes, federation (forwarding to remote engines and querying across instances)
    ...parseForwardingConfig(raw as Record<string, unknown>, (msg) => {
      throw new ConfigError(`${file}: ${msg}`, /^[\w.[\]]+/.exec(msg)?.[0]);
    }),
  };
}

/** Reads config.yaml; a missing file means defaults, a broken one is an error that names the problem. */
export function loadConfig(paths: Pick<DataPaths, 'config'>): Config {
  let text: string;
  try {
    text = readFileSync(paths.config, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(DEFAULT_CONFIG);
    throw err;
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${paths.config} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, 'config.yaml');
}
