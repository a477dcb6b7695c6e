/**
 * One HTTP request of a sink and how its outcome is classified: delivered, worth retrying (network, 408, 429,
 * 5xx), rejected for its content (400, 413, 422: split the batch to isolate the bad entries), or refused for
 * the configuration (401, 403, 404, ...: every batch would fail the same way, so wait and keep the data).
 */
import type { HttpAuth } from './config.ts';

export interface EncodedRequest {
  url: string;
  body: Buffer;
  headers: Record<string, string>;
}

export type SendOutcome =
  | { kind: 'ok'; status: number; body: Buffer; contentType: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  | { kind: 'content'; status: number; error: string }
  | { kind: 'config'; status: number; error: string };

export const USER_AGENT = 'claude-telemetry';

export function authHeaders(auth: HttpAuth): Record<string, string> {
  if (auth.type === 'basic') {
    return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
  }
  if (auth.type === 'bearer') return { authorization: `Bearer ${auth.token}` };
  return {};
}

/** `base` unless it already ends in `path`, else base + path (a trailing slash on base is tolerated). */
export function endpoint(base: string, path: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith(path) ? trimmed : `${trimmed}${path}`;
}

/** The URL without credentials, for status output and logs. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** Why a fetch failed, in a word the status line can show (ECONNREFUSED, timeout, ...). */
export function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

export async function send(req: EncodedRequest, timeoutMs: number, stop: AbortSignal): Promise<SendOutcome> {
  let res: Response;
  let body: Buffer;
  try {
    res = await fetch(req.url, {
      method: 'POST',
      headers: req.headers,
      body: new Uint8Array(req.body),
      signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
    });
    body = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if (stop.aborted) throw err;
    return { kind: 'retry', error: networkReason(err, timeoutMs) };
  }
  const status = res.status;
  if (status >= 200 && status < 300) {
    return { kind: 'ok', status, body, contentType: res.headers.get('content-type') ?? '' };
  }
  const error = `HTTP ${status}: ${body.toString('utf8', 0, Math.min(body.length, 300)).trim()}`;
  if (status === 408 || status === 429 || status >= 500) {
    const after = retryAfterMs(res.headers.get('retry-after'));
    return after === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs: after };
  }
  if (status === 400 || status === 413 || status === 422) return { kind: 'content', status, error };
  return { kind: 'config', status, error };
}
