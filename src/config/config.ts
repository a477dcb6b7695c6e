import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { z } from 'zod';
import { DEFAULT_RETENTION, type RetentionConfig, retentionSchema } from '../ops/retention-config.ts';
import { DEFAULT_FORWARDING, type ForwardingConfig, parseForwardingConfig } from '../sinks/config.ts';
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
}

export const DEFAULT_CONFIG: Config = {
  capture: 'metadata',
  ingest: { batchSize: 1000, rescanMs: 1000, maxPayloadBytes: 16 * 1024 * 1024, orphanAfterMs: 5 * 60_000 },
  audit: { checkpointEvery: 1000 },
  server: { enabled: true, host: '127.0.0.1', port: 3100, maxBodyBytes: 16 * 1024 * 1024 },
  retention: DEFAULT_RETENTION,
  ...DEFAULT_FORWARDING,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function num(v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`config.yaml: ${key} must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(v: unknown, key: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean')
    throw new ConfigError(`config.yaml: ${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function serverSection(v: Record<string, unknown>, d: Config['server']): Config['server'] {
  const host = v.host ?? d.host;
  if (typeof host !== 'string' || host.trim() === '') {
    throw new ConfigError(
      `config.yaml: server.host must be a host name or address, got ${JSON.stringify(host)}`,
    );
  }
  const port = v.port ?? d.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      `config.yaml: server.port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`,
    );
  }
  return {
    enabled: bool(v.enabled, 'server.enabled', d.enabled),
    host,
    port,
    maxBodyBytes: num(v.max_body_bytes, 'server.max_body_bytes', d.maxBodyBytes),
  };
}

/** One section read through its schema; the first problem is reported with its full key. */
function schemaSection<S extends z.ZodType>(schema: S, value: unknown, key: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [key, ...(issue?.path ?? []).map(String)].join('.');
  throw new ConfigError(`config.yaml: ${path}: ${issue?.message ?? 'invalid'}`);
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
    raw = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${paths.config} is not valid YAML: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${paths.config} must be a YAML mapping`);
  }
  const r = raw as Record<string, Record<string, unknown> | undefined> & { capture?: unknown };
  const capture = r.capture ?? DEFAULT_CONFIG.capture;
  if (capture !== 'metadata' && capture !== 'full') {
    throw new ConfigError(
      `config.yaml: capture must be "metadata" or "full", got ${JSON.stringify(capture)}`,
    );
  }
  const ing = r.ingest ?? {};
  const aud = r.audit ?? {};
  const d = DEFAULT_CONFIG;
  return {
    capture,
    ingest: {
      batchSize: num(ing.batch_size, 'ingest.batch_size', d.ingest.batchSize),
      rescanMs: num(ing.rescan_ms, 'ingest.rescan_ms', d.ingest.rescanMs),
      maxPayloadBytes: num(ing.max_payload_bytes, 'ingest.max_payload_bytes', d.ingest.maxPayloadBytes),
      orphanAfterMs: num(ing.orphan_after_ms, 'ingest.orphan_after_ms', d.ingest.orphanAfterMs),
    },
    audit: { checkpointEvery: num(aud.checkpoint_every, 'audit.checkpoint_every', d.audit.checkpointEvery) },
    server: serverSection(r.server ?? {}, d.server),
    retention: schemaSection(retentionSchema, r.retention, 'retention'),
    // sinks, routes, federation (forwarding to remote engines and querying across instances)
    ...parseForwardingConfig(raw as Record<string, unknown>, (msg) => {
      throw new ConfigError(`config.yaml: ${msg}`);
    }),
  };
}
