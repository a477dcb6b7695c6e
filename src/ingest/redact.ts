/**
 * Secret redaction of free text (commands, URLs, error strings, kept payload fields). Recall first:
 * a false positive costs a few characters of context, a false negative leaks a credential into an
 * append-only audit log. Each match is replaced by `<redacted:RULE>`.
 *
 * Order: private-key blocks, then provider tokens, then URL credentials and auth headers, then
 * `KEY=value` / `--password x` assignments, then contextual AWS secrets. Every pattern is linear-time:
 * token rules can only start where a run of token characters starts (a lookbehind), every quantified
 * run is followed by a character its class excludes, and input is bounded to 64 KiB per field.
 */

/** Fields longer than this are cut (with a marker) before redaction. */
export const MAX_FIELD_CHARS = 64 * 1024;

export interface RedactResult {
  text: string;
  /** Rule id of every replacement, in order (a rule may appear more than once). */
  hits: string[];
}

interface Rule {
  id: string;
  re: RegExp;
  /** Replacement; return the match unchanged to skip it. Default: `<redacted:id>`. */
  fn?: (match: string, groups: (string | undefined)[]) => string;
  /** Cheap precondition on the whole text. */
  needs?: RegExp;
}

const mark = (id: string) => `<redacted:${id}>`;
const REDACTED_PREFIX = '<redacted:';

/** Values that name or template a secret rather than being one. */
const PLACEHOLDER =
  /^(?:<|\$|%[A-Za-z_]|\{\{|\*+$|x+$|(?:true|false|null|none|nil|undefined|string|str|number|int|integer|boolean|bool|bytes|any|object|required|optional|secret|password|token|changeme|redacted|\.\.\.)$)/i;

/** Words and shapes of documentation values: `your-api-key-here`, `<token>`, `EXAMPLE`, `xxxxxxxx`. */
const PLACEHOLDER_SHAPE =
  /^(?:your|my|an?|the|some)[-_ ]|[-_ ](?:here|goes[-_ ]here)$|x{4,}$|example|dummy|placeholder|fake[-_]|sample|^x{3,}$|^(.)\1+$/i;

export function isPlaceholderValue(v: string): boolean {
  return (
    v.length < 4 ||
    PLACEHOLDER.test(v) ||
    PLACEHOLDER_SHAPE.test(v) ||
    /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v)
  );
}

/**
 * A provider-shaped token that is a documented example or filler rather than a credential: AWS's
 * `AKIAIOSFODNN7EXAMPLE`, `ghp_` followed by a run of one character, `sk-ant-api03-xxxxxxxx...`.
 */
export function isPlaceholderToken(m: string): boolean {
  if (/EXAMPLE/i.test(m)) return true;
  if (!/([A-Za-z0-9])\1{7,}/.test(m)) return false;
  // filler: a long run and almost no variety in the rest (`ghp_xxxx...`, `sk-ant-api03-0000...`)
  const body = m.replace(/^[a-z]{2,5}[-_](?:[a-z0-9]{2,8}-)?/i, '');
  return new Set(body).size <= 4;
}

/** Shannon entropy of a string in bits per character. */
export function shannonEntropy(v: string): number {
  if (v.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of v) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / v.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Below this many bits per character a value under a token/key name is a word or a pattern, not a secret. */
export const MIN_SECRET_ENTROPY = 2.5;
const PASSWORD_KEY = /pass|pwd|pw$|^pw|passphrase/i;

// ---- key names that say "secret" -------------------------------------------------------------------

const SECRET_WORD =
  /^(?:pass|pwd|auth|bearer|pw)$|password|passwd|passphrase|secret|token(?!s$|iz)|apikey|accesskey|privatekey|credential|authorization|cookie/;
const KEY_QUALIFIER = new Set([
  'api',
  'access',
  'private',
  'secret',
  'auth',
  'signing',
  'encryption',
  'encrypt',
  'client',
  'session',
  'master',
  'account',
  'service',
  'db',
  'license',
  'app',
  'consumer',
  'hmac',
  'ssh',
  'deploy',
]);
const NOT_SECRET_LAST = new Set([
  'id',
  'ids',
  'file',
  'files',
  'path',
  'paths',
  'dir',
  'url',
  'uri',
  'endpoint',
  'host',
  'length',
  'len',
  'min',
  'max',
  'ttl',
  'timeout',
  'count',
  'size',
  'type',
  'name',
  'names',
  'expiry',
  'expires',
  'at',
  'enabled',
  'required',
  'hint',
  'prompt',
  'field',
  'header',
  'env',
  'var',
  'policy',
  'format',
  'limit',
  'mode',
  'tokens',
  'usage',
  'budget',
  'rotation',
  'version',
]);
const keyVerdicts = new Map<string, boolean>();

function judgeKey(name: string): boolean {
  if (name.length > 128) return false;
  const words = name
    .split(/[\s_.\-:/]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
  const last = words[words.length - 1];
  if (last === undefined || NOT_SECRET_LAST.has(last)) return false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    if (SECRET_WORD.test(w)) return true;
    if (w === 'key' && i > 0 && KEY_QUALIFIER.has(words[i - 1] as string)) return true;
  }
  return false;
}

/** True when a field/variable/flag name says its value is a secret (`API_KEY`, `dbPassword`, `--token`). */
export function isSecretKey(name: string): boolean {
  let v = keyVerdicts.get(name);
  if (v === undefined) {
    v = judgeKey(name);
    if (keyVerdicts.size > 20_000) keyVerdicts.clear();
    keyVerdicts.set(name, v);
  }
  return v;
}

// ---- rules -------------------------------------------------------------------------------------------

/**
 * Rules start only at the beginning of a run of token characters (which keeps them linear), or right
 * after a lone `-` that itself starts a run (a diff line `-sk-ant-...`, an option `-ghp_...`).
 */
const B = '(?:(?<![A-Za-z0-9_\\-])|(?<=(?:^|[^A-Za-z0-9_\\-])-))';

const RULES: Rule[] = [
  { id: 'anthropic-api-key', re: new RegExp(`${B}sk-ant-[a-z0-9]{2,12}-[A-Za-z0-9_\\-]{20,}`, 'g') },
  { id: 'openai-api-key', re: new RegExp(`${B}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\\-]{32,}`, 'g') },
  {
    id: 'aws-access-key-id',
    re: /(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])/g,
  },
  {
    id: 'github-token',
    re: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/g,
  },
  {
    id: 'gitlab-token',
    re: new RegExp(`${B}gl(?:pat|dt|ptt|rt|cbt|oas|soat|ft|imt|agent|cicd)-[A-Za-z0-9_\\-]{20,}`, 'g'),
  },
  {
    id: 'slack-webhook',
    re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/_-]{20,}/g,
  },
  {
    id: 'slack-token',
    re: new RegExp(`${B}(?:xox[abeoprs]-[A-Za-z0-9-]{10,}|xapp-\\d-[A-Za-z0-9-]{10,})`, 'g'),
  },
  { id: 'google-api-key', re: new RegExp(`${B}AIza[A-Za-z0-9_\\-]{35}`, 'g') },
  {
    id: 'google-oauth',
    re: new RegExp(`${B}(?:GOCSPX-[A-Za-z0-9_\\-]{28}|ya29\\.[A-Za-z0-9_\\-]{20,})`, 'g'),
  },
  {
    id: 'stripe-key',
    re: /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/]{20,})/g,
  },
  { id: 'npm-token', re: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36,}/g },
  { id: 'pypi-token', re: new RegExp(`${B}pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\\-]{50,}`, 'g') },
  { id: 'huggingface-token', re: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{34,}/g },
  {
    id: 'jwt',
    re: new RegExp(`${B}ey[A-Za-z0-9_\\-]{10,}\\.ey[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]*`, 'g'),
  },
  {
    // scheme://user:password@  (user may be empty: redis://:pw@host)
    id: 'url-credentials',
    re: /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/)([^\s/:@'"<>]{0,256}):([^\s/@'"<>]{1,512})@/g,
    fn: (m, [scheme, user, pw]) =>
      pw && !pw.startsWith(REDACTED_PREFIX) ? `${scheme}${user}:${mark('url-credentials')}@` : m,
  },
  {
    id: 'auth-header',
    re: /(?<![A-Za-z0-9_-])((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|x-access-token|private-token)(['"]?[ \t]{0,4}:[ \t]{0,4}['"]?)(?:((?:bearer|basic|token|digest|negotiate|bot|sso-key)[ \t]+))?([^\s'"<>]{1,4096})/gi,
    fn: (m, [name, sep, scheme, value]) =>
      value === undefined || isPlaceholderValue(value)
        ? m
        : `${name}${sep}${scheme ?? ''}${mark('auth-header')}`,
  },
  {
    id: 'cookie-header',
    re: /(?<![A-Za-z0-9_-])((?:set-)?cookie)(['"]?[ \t]{0,4}:[ \t]{0,4}['"]?)([^\r\n'"]{1,4096})/gi,
    fn: (m, [name, sep, value]) =>
      value === undefined || isPlaceholderValue(value.trim()) ? m : `${name}${sep}${mark('cookie-header')}`,
  },
  {
    // curl -u user:password, --user user:password
    id: 'basic-auth',
    re: /(?<![A-Za-z0-9_-])(-u|--user)([ \t]+|=)(['"]?)([^\s:'"]{1,256}):([^\s'"<>]{1,512})/g,
    fn: (m, [flag, sep, q, user, pw]) =>
      pw === undefined || /^\d+$/.test(pw) || pw.startsWith('//') || isPlaceholderValue(pw)
        ? m
        : `${flag}${sep}${q}${user}:${mark('basic-auth')}`,
  },
];

/**
 * Key-driven rules: a name that says "secret", a separator, then a value. Scanned by hand so that a
 * declined name consumes only itself and the separator (`https://h/?api_key=x` still reaches api_key).
 */
// `$PWD:/app`, `${TOKEN}`: a variable reference, not an assignment.
const ASSIGNMENT_KEY =
  /(?<![A-Za-z0-9_.${-])([A-Za-z_][A-Za-z0-9_.-]{0,127})(['"]?[ \t]{0,4}(?::=|=|:)[ \t]{0,4})/g;
const FLAG_KEY = /(?<![A-Za-z0-9_-])--?([A-Za-z][A-Za-z0-9_-]{0,80})(=|[ \t]+)/g;
const VALUE =
  /((?:Bearer|bearer|BEARER|Basic|basic|BASIC|Token|token|Digest|digest)[ \t]+)?(?:"([^"\r\n]{1,1024})"|'([^'\r\n]{1,1024})'|([^\s'"`,;&|>(){}[\]]{1,1024}))/y;
const ALREADY_REDACTED = /^(?:\S+\s+)?<redacted:[a-z0-9-]+>$/;

function redactKeyed(s: string, keyRe: RegExp, id: string, isFlag: boolean, hits: string[]): string {
  keyRe.lastIndex = 0;
  let out = '';
  let last = 0;
  let changed = false;
  for (let m = keyRe.exec(s); m !== null; m = keyRe.exec(s)) {
    if (!isSecretKey(m[1] as string)) continue;
    const end = m.index + m[0].length;
    VALUE.lastIndex = end;
    const v = VALUE.exec(s);
    if (v === null) continue;
    const val = v[2] ?? v[3] ?? v[4] ?? '';
    if (val.startsWith('=') || (isFlag && val.startsWith('-'))) continue;
    if (isPlaceholderValue(val) || ALREADY_REDACTED.test(val)) continue;
    // Passwords may be plain words; tokens and keys are random: a low-entropy value is not one.
    if (!PASSWORD_KEY.test(m[1] as string) && shannonEntropy(val) < MIN_SECRET_ENTROPY) continue;
    const quote = v[2] !== undefined ? '"' : v[3] !== undefined ? "'" : '';
    out += `${s.slice(last, end)}${v[1] ?? ''}${quote}${mark(id)}${quote}`;
    last = VALUE.lastIndex;
    keyRe.lastIndex = last;
    changed = true;
    hits.push(id);
  }
  return changed ? out + s.slice(last) : s;
}

/** 40-char AWS secret access key, only with "aws" nearby and mixed case (git SHAs are lowercase hex). */
const AWS_SECRET = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const AWS_CONTEXT = /aws/i;

/** Fast negative: no rule can match a text without one of these. */
const TRIGGER =
  /sk-|[sr]k_|akia|asia|abia|acca|a3t|gh[pousr]_|github_pat_|gl[a-z]{2,6}-|xox|xapp-|hooks\.slack|aiza|gocspx|ya29\.|whsec_|npm_|pypi-|hf_|\.ey|:\/\/|cookie|-u|pass|pwd|pw|secret|token|key|priv|auth|credential|bearer|aws/i;

const PRIVATE_KEY_HEAD = /^-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/;
const PRIVATE_KEY_TAIL = /^-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/;

function redactPrivateKeys(s: string, hits: string[]): string {
  let from = s.indexOf('-----BEGIN');
  if (from < 0) return s;
  let out = '';
  let last = 0;
  while (from >= 0) {
    const head = PRIVATE_KEY_HEAD.exec(s.slice(from, from + 140));
    if (head === null) {
      from = s.indexOf('-----BEGIN', from + 10);
      continue;
    }
    let end = s.length;
    let probe = s.indexOf('-----END', from + head[0].length);
    while (probe >= 0) {
      const tail = PRIVATE_KEY_TAIL.exec(s.slice(probe, probe + 140));
      if (tail !== null) {
        end = probe + tail[0].length;
        break;
      }
      probe = s.indexOf('-----END', probe + 8);
    }
    // A key cut short (no END line) is still a key: redact to the end of the text.
    out += s.slice(last, from) + mark('private-key');
    hits.push('private-key');
    last = end;
    from = end < s.length ? s.indexOf('-----BEGIN', end) : -1;
  }
  return out + s.slice(last);
}

/** Characters a token can be made of: a cut must not leave the first half of one behind. */
function isTokenChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) ||
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    c === 95 ||
    c === 45 ||
    c === 43 ||
    c === 47 ||
    c === 61 ||
    c === 46
  );
}

/**
 * Cuts a field to at most `max` chars plus a marker saying how much was dropped. The token running
 * into the cut (up to 512 chars of it) is dropped too, and a surrogate pair is never split.
 */
export function truncateField(s: string, max = MAX_FIELD_CHARS): string {
  if (s.length <= max) return s;
  let cut = max;
  const floor = Math.max(0, max - 512);
  while (cut > floor && isTokenChar(s.charCodeAt(cut - 1))) cut--;
  const code = s.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return `${s.slice(0, cut)}…<truncated:${s.length - cut} chars>`;
}

/**
 * Short strings already found clean. Keys, ids, paths and tool names repeat on every event, and a Set
 * lookup is cheaper than the trigger scan. Bounded; cleared when full.
 */
const clean = new Set<string>();
const CLEAN_MAX_LEN = 256;
const CLEAN_MAX_ENTRIES = 50_000;

function remember(s: string): void {
  if (clean.size >= CLEAN_MAX_ENTRIES) clean.clear();
  clean.add(s);
}

/** Redacts one string, appending rule ids to `hits`. Bounded to MAX_FIELD_CHARS. */
export function redactString(input: string, hits?: string[]): string {
  if (input.length < 8) return input;
  const short = input.length <= CLEAN_MAX_LEN;
  if (short && clean.has(input)) return input;
  let s = input.length > MAX_FIELD_CHARS ? truncateField(input) : input;
  if (!TRIGGER.test(s)) {
    if (short) remember(s);
    return s;
  }
  const before = hits?.length ?? 0;
  const found: string[] = hits ?? [];
  s = redactPrivateKeys(s, found);
  for (const rule of RULES) {
    if (rule.needs !== undefined && !rule.needs.test(s)) continue;
    rule.re.lastIndex = 0;
    if (!rule.re.test(s)) continue;
    rule.re.lastIndex = 0;
    const fn = rule.fn;
    s = s.replace(rule.re, (...args: unknown[]) => {
      const m = args[0] as string;
      // replace() passes: match, groups..., offset, whole text
      const r = fn
        ? fn(m, args.slice(1, -2) as (string | undefined)[])
        : isPlaceholderToken(m)
          ? m
          : mark(rule.id);
      if (r !== m) found.push(rule.id);
      return r;
    });
  }
  // NAME=value, name: value, "name": "value", ?name=value, token: Bearer value
  s = redactKeyed(s, ASSIGNMENT_KEY, 'secret-assignment', false, found);
  // --password x, --token=x, -secret x
  s = redactKeyed(s, FLAG_KEY, 'secret-flag', true, found);
  if (AWS_CONTEXT.test(s)) {
    s = s.replace(AWS_SECRET, (m: string, offset: number, whole: string) => {
      if (!/[A-Z/+]/.test(m) || !/[a-z0-9]/.test(m) || isPlaceholderToken(m)) return m;
      if (!AWS_CONTEXT.test(whole.slice(Math.max(0, offset - 80), offset))) return m;
      found.push('aws-secret-access-key');
      return mark('aws-secret-access-key');
    });
  }
  if (short && s === input && found.length === before) remember(s);
  return s;
}

/** Redacts secrets in free text. */
export function redactText(s: string): RedactResult {
  const hits: string[] = [];
  return { text: redactString(s, hits), hits };
}

const MAX_DEPTH = 64;

/**
 * A copy of a JSON-like value with every string redacted (object keys too). A string under a key that
 * names a secret (`password`, `apiKey`, `Authorization`...) is replaced whole. Values nested deeper than
 * 64 levels are replaced by a marker.
 */
export function redactDeep<T>(value: T, hits?: string[]): T {
  return deep(value, hits ?? [], 0) as T;
}

function deep(v: unknown, hits: string[], depth: number): unknown {
  if (typeof v === 'string') return redactString(v, hits);
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) {
    hits.push('too-deep');
    return mark('too-deep');
  }
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = deep(v[i], hits, depth + 1);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    out[redactString(k, hits)] = redactField(k, (v as Record<string, unknown>)[k], hits, depth + 1);
  }
  return out;
}

/** Redacts the value of one object field, knowing its key. */
export function redactField(key: string, v: unknown, hits: string[], depth = 0): unknown {
  if (typeof v === 'string' && isSecretKey(key) && !isPlaceholderValue(v)) {
    hits.push('secret-field');
    return mark('secret-field');
  }
  return deep(v, hits, depth);
}
