/**
 * Settings for the remote side of the product, read from config.yaml by the config loader:
 *
 *   sinks:                      # forwarding, each with a durable cursor over the audit log
 *     - name: central
 *       type: loki              # loki | otlp
 *       url: http://loki.example:3100        # loki: /loki/api/v1/push is added; otlp: /v1/logs is added
 *       tenant: team-a          # loki: X-Scope-OrgID
 *       basic_auth: { username: u, password: p }    # or bearer_token: t
 *       headers: { X-Extra: v }
 *       encoding: protobuf      # protobuf (default) | json
 *       batch_size: 500
 *       batch_wait_ms: 1000
 *   routes:                     # optional; without routes every sink gets every event
 *     - project: "secret-*"     # glob on the project name (or on the path when the pattern has a '/')
 *       sinks: []               # first matching route wins: here, keep these events local
 *     - host: "ci-*"
 *       sinks: [ci]
 *     - sinks: [central]        # a route without conditions matches everything
 *   federation:
 *     instances:
 *       - { name: laptop, url: "http://127.0.0.1:3101" }
 *       - { name: build, url: "http://10.0.0.5:3100", tenant: team-a, bearer_token: t }
 *     timeout_ms: 10000
 *     instance_label: instance  # label naming the origin of each stream; "" to leave it out
 */

export type HttpAuth =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string };

export interface SinkConfig {
  type: 'loki' | 'otlp';
  /** Unique; names the cursor file and the status entry. */
  name: string;
  /** Base URL of the service, or the full push URL when it already ends in the API path. */
  url: string;
  /** Loki tenant (X-Scope-OrgID). */
  tenant?: string;
  auth: HttpAuth;
  headers: Record<string, string>;
  /** Loki: protobuf+snappy (default) or JSON+gzip. OTLP: protobuf (default) or JSON, both gzip. */
  encoding: 'protobuf' | 'json';
  /** Most events per request. */
  batchSize: number;
  /** How long a partial batch may wait for more events before it is sent. */
  batchWaitMs: number;
  /** One request's time limit. */
  timeoutMs: number;
  /** Retry backoff: first delay and cap (exponential with full jitter in between). */
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface RouteConfig {
  /** Globs; an absent key matches anything. All present keys must match. */
  agent?: string;
  project?: string;
  host?: string;
  /** Sink names that get the matching events (empty: none). */
  sinks: string[];
}

export interface FederationInstanceConfig {
  name: string;
  url: string;
  tenant?: string;
  auth: HttpAuth;
  headers: Record<string, string>;
}

export interface FederationConfig {
  instances: FederationInstanceConfig[];
  /** Per-instance time limit of one request. */
  timeoutMs: number;
  /** Label added to streams and series naming their instance; null leaves it out. */
  instanceLabel: string | null;
}

export interface ForwardingConfig {
  sinks: SinkConfig[];
  routes: RouteConfig[];
  federation: FederationConfig;
}

export const DEFAULT_SINK_SETTINGS = {
  encoding: 'protobuf',
  batchSize: 500,
  batchWaitMs: 1000,
  timeoutMs: 10_000,
  minBackoffMs: 500,
  maxBackoffMs: 60_000,
} as const;

export const DEFAULT_FORWARDING: ForwardingConfig = {
  sinks: [],
  routes: [],
  federation: { instances: [], timeoutMs: 10_000, instanceLabel: 'instance' },
};

/** Raises the loader's error type with a message that names the offending key. */
export type ConfigFail = (message: string) => never;

type Raw = Record<string, unknown>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function isMap(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, key: string, fail: ConfigFail): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return fail(`${key} must be a list`);
  return v;
}

function map(v: unknown, key: string, fail: ConfigFail): Raw {
  if (!isMap(v)) return fail(`${key} must be a mapping`);
  return v;
}

function str(v: unknown, key: string, fail: ConfigFail): string;
function str(v: unknown, key: string, fail: ConfigFail, optional: true): string | undefined;
function str(v: unknown, key: string, fail: ConfigFail, optional = false): string | undefined {
  if ((v === undefined || v === null) && optional) return undefined;
  if (typeof v !== 'string' || v === '')
    return fail(`${key} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function positive(v: unknown, key: string, fail: ConfigFail, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    return fail(`${key} must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function url(v: unknown, key: string, fail: ConfigFail): string {
  const text = str(v, key, fail);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return fail(`${key} is not a URL: ${JSON.stringify(text)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return fail(`${key} must be http or https`);
  return text;
}

function authOf(r: Raw, key: string, fail: ConfigFail): HttpAuth {
  if (r.basic_auth !== undefined && r.bearer_token !== undefined) {
    return fail(`${key}: set basic_auth or bearer_token, not both`);
  }
  if (r.basic_auth !== undefined) {
    const b = map(r.basic_auth, `${key}.basic_auth`, fail);
    return {
      type: 'basic',
      username: str(b.username, `${key}.basic_auth.username`, fail),
      password:
        typeof b.password === 'string' ? b.password : fail(`${key}.basic_auth.password must be a string`),
    };
  }
  if (r.bearer_token !== undefined)
    return { type: 'bearer', token: str(r.bearer_token, `${key}.bearer_token`, fail) };
  return { type: 'none' };
}

function headersOf(v: unknown, key: string, fail: ConfigFail): Record<string, string> {
  if (v === undefined || v === null) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(map(v, key, fail))) {
    out[k] = typeof val === 'string' ? val : fail(`${key}.${k} must be a string`);
  }
  return out;
}

function uniqueName(v: unknown, key: string, seen: Set<string>, fail: ConfigFail): string {
  const name = str(v, key, fail);
  if (!NAME_RE.test(name))
    return fail(`${key} may hold letters, digits, '_', '.', '-' only, got ${JSON.stringify(name)}`);
  if (seen.has(name)) return fail(`${key}: duplicate name ${JSON.stringify(name)}`);
  seen.add(name);
  return name;
}

function parseSink(v: unknown, key: string, names: Set<string>, fail: ConfigFail): SinkConfig {
  const r = map(v, key, fail);
  const type = r.type;
  if (type !== 'loki' && type !== 'otlp')
    return fail(`${key}.type must be "loki" or "otlp", got ${JSON.stringify(type)}`);
  const encoding = r.encoding ?? DEFAULT_SINK_SETTINGS.encoding;
  if (encoding !== 'protobuf' && encoding !== 'json') {
    return fail(`${key}.encoding must be "protobuf" or "json", got ${JSON.stringify(encoding)}`);
  }
  const d = DEFAULT_SINK_SETTINGS;
  const sink: SinkConfig = {
    type,
    name: uniqueName(r.name, `${key}.name`, names, fail),
    url: url(r.url, `${key}.url`, fail),
    auth: authOf(r, key, fail),
    headers: headersOf(r.headers, `${key}.headers`, fail),
    encoding,
    batchSize: Math.floor(positive(r.batch_size, `${key}.batch_size`, fail, d.batchSize)),
    batchWaitMs: positive(r.batch_wait_ms, `${key}.batch_wait_ms`, fail, d.batchWaitMs),
    timeoutMs: positive(r.timeout_ms, `${key}.timeout_ms`, fail, d.timeoutMs),
    minBackoffMs: positive(r.min_backoff_ms, `${key}.min_backoff_ms`, fail, d.minBackoffMs),
    maxBackoffMs: positive(r.max_backoff_ms, `${key}.max_backoff_ms`, fail, d.maxBackoffMs),
  };
  const tenant = str(r.tenant, `${key}.tenant`, fail, true);
  if (tenant !== undefined) {
    if (type !== 'loki') return fail(`${key}.tenant applies to loki sinks only (use headers for otlp)`);
    sink.tenant = tenant;
  }
  if (sink.minBackoffMs > sink.maxBackoffMs) return fail(`${key}.min_backoff_ms is above max_backoff_ms`);
  return sink;
}

function parseRoute(v: unknown, key: string, sinkNames: Set<string>, fail: ConfigFail): RouteConfig {
  const r = map(v, key, fail);
  for (const k of Object.keys(r)) {
    if (!['agent', 'project', 'host', 'sinks'].includes(k)) return fail(`${key}.${k} is not a route key`);
  }
  const sinks = list(r.sinks, `${key}.sinks`, fail).map((s, i) => {
    const name = str(s, `${key}.sinks[${i}]`, fail);
    return sinkNames.has(name) ? name : fail(`${key}.sinks[${i}]: no sink named ${JSON.stringify(name)}`);
  });
  if (r.sinks === undefined) return fail(`${key}.sinks is required (a list of sink names, may be empty)`);
  const route: RouteConfig = { sinks };
  for (const k of ['agent', 'project', 'host'] as const) {
    const glob = str(r[k], `${key}.${k}`, fail, true);
    if (glob !== undefined) route[k] = glob;
  }
  return route;
}

function parseFederation(v: unknown, fail: ConfigFail): FederationConfig {
  const d = DEFAULT_FORWARDING.federation;
  if (v === undefined || v === null) return structuredClone(d);
  const r = map(v, 'federation', fail);
  const names = new Set<string>();
  const instances = list(r.instances, 'federation.instances', fail).map(
    (item, i): FederationInstanceConfig => {
      const key = `federation.instances[${i}]`;
      const m = map(item, key, fail);
      const inst: FederationInstanceConfig = {
        name: uniqueName(m.name, `${key}.name`, names, fail),
        url: url(m.url, `${key}.url`, fail),
        auth: authOf(m, key, fail),
        headers: headersOf(m.headers, `${key}.headers`, fail),
      };
      const tenant = str(m.tenant, `${key}.tenant`, fail, true);
      if (tenant !== undefined) inst.tenant = tenant;
      return inst;
    },
  );
  let instanceLabel: string | null = d.instanceLabel;
  if (r.instance_label !== undefined && r.instance_label !== null) {
    if (typeof r.instance_label !== 'string') return fail('federation.instance_label must be a string');
    if (r.instance_label !== '' && !LABEL_NAME_RE.test(r.instance_label)) {
      return fail(`federation.instance_label is not a label name: ${JSON.stringify(r.instance_label)}`);
    }
    instanceLabel = r.instance_label === '' ? null : r.instance_label;
  }
  return {
    instances,
    timeoutMs: positive(r.timeout_ms, 'federation.timeout_ms', fail, d.timeoutMs),
    instanceLabel,
  };
}

/** Reads the `sinks`, `routes` and `federation` keys of config.yaml (all optional). */
export function parseForwardingConfig(raw: Raw, fail: ConfigFail): ForwardingConfig {
  const names = new Set<string>();
  const sinks = list(raw.sinks, 'sinks', fail).map((s, i) => parseSink(s, `sinks[${i}]`, names, fail));
  const routes = list(raw.routes, 'routes', fail).map((r, i) => parseRoute(r, `routes[${i}]`, names, fail));
  return { sinks, routes, federation: parseFederation(raw.federation, fail) };
}
