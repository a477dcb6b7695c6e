import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  isSecretKey,
  MAX_FIELD_CHARS,
  redactDeep,
  redactText,
  truncateField,
} from '../../src/ingest/redact.ts';

/** Deterministic filler of a given alphabet, so samples have the right shape without being real. */
function fill(
  n: number,
  alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  seed = 7,
): string {
  let out = '';
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

const SAMPLE_SECRETS = {
  anthropic: `sk-ant-api03-${fill(93, undefined, 1)}AA`,
  openaiProject: `sk-proj-${fill(20, undefined, 2)}T3BlbkFJ${fill(20, undefined, 3)}`,
  openaiLegacy: `sk-${fill(48, undefined, 4)}`,
  awsKeyId: 'AKIAQ3EGVNJ4WZ7XK2LD',
  githubPat: `ghp_${fill(36, undefined, 6)}`,
  githubOauth: `gho_${fill(36, undefined, 8)}`,
  githubUser: `ghu_${fill(36, undefined, 9)}`,
  githubServer: `ghs_${fill(36, undefined, 10)}`,
  githubRefresh: `ghr_${fill(36, undefined, 11)}`,
  githubFine: `github_pat_${fill(22, undefined, 12)}_${fill(59, undefined, 13)}`,
  gitlab: `glpat-${fill(20, undefined, 14)}`,
  slackBot: `xoxb-${fill(12, '0123456789', 15)}-${fill(12, '0123456789', 16)}-${fill(24, undefined, 17)}`,
  slackWebhook: `https://hooks.slack.com/services/T${fill(8, 'ABCDEFGHIJ0123456789', 18)}/B${fill(8, 'ABCDEFGHIJ0123456789', 19)}/${fill(24, undefined, 20)}`,
  google: `AIza${fill(35, undefined, 21)}`,
  stripe: `sk_live_${fill(24, undefined, 22)}`,
  npm: `npm_${fill(36, undefined, 23)}`,
  jwt: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.${fill(43, undefined, 24)}`,
};

const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${fill(64, undefined, 25)}\n${fill(64, undefined, 26)}\n-----END RSA PRIVATE KEY-----`;

describe('redactText: provider tokens', () => {
  const ids: Record<keyof typeof SAMPLE_SECRETS, string> = {
    anthropic: 'anthropic-api-key',
    openaiProject: 'openai-api-key',
    openaiLegacy: 'openai-api-key',
    awsKeyId: 'aws-access-key-id',
    githubPat: 'github-token',
    githubOauth: 'github-token',
    githubUser: 'github-token',
    githubServer: 'github-token',
    githubRefresh: 'github-token',
    githubFine: 'github-token',
    gitlab: 'gitlab-token',
    slackBot: 'slack-token',
    slackWebhook: 'slack-webhook',
    google: 'google-api-key',
    stripe: 'stripe-key',
    npm: 'npm-token',
    jwt: 'jwt',
  };
  for (const [name, secret] of Object.entries(SAMPLE_SECRETS)) {
    const id = ids[name as keyof typeof SAMPLE_SECRETS];
    test(name, () => {
      const r = redactText(`run --flag "${secret}" and ${secret}; echo done`);
      assert.ok(!r.text.includes(secret), r.text);
      assert.ok(r.text.includes(`<redacted:${id}>`), r.text);
      assert.ok(r.text.startsWith('run --flag "') && r.text.endsWith('; echo done'), r.text);
      assert.equal(r.hits.filter((h) => h === id).length, 2);
    });
  }
});

describe('redactText: structured secrets', () => {
  const cases: [string, string, string[], string][] = [
    // [name, input, substrings that must be gone, rule id]
    ['PEM private key', `key:\n${PEM}\nafter`, [PEM.slice(40, 90), 'END RSA'], 'private-key'],
    ['PEM cut short (no END)', `x ${PEM.slice(0, 120)}`, [PEM.slice(40, 90)], 'private-key'],
    [
      'URL credentials',
      'psql postgres://app:s3cr3t-pw@db.internal:5432/app',
      ['s3cr3t-pw'],
      'url-credentials',
    ],
    [
      'URL credentials, empty user',
      'redis-cli -u redis://:hunter22@cache:6379',
      ['hunter22'],
      'url-credentials',
    ],
    [
      'git remote with password',
      'git clone https://bob:Pa55w0rd!x@git.example.com/r.git',
      ['Pa55w0rd!x'],
      'url-credentials',
    ],
    [
      'Authorization header',
      'curl -H "Authorization: Bearer abcdef1234567890" x',
      ['abcdef1234567890'],
      'auth-header',
    ],
    [
      'Authorization in JSON',
      '{"Authorization":"Basic dXNlcjpwYXNzd29yZA=="}',
      ['dXNlcjpwYXNzd29yZA'],
      'auth-header',
    ],
    ['x-api-key header', "curl -H 'x-api-key: 0123456789abcdef' x", ['0123456789abcdef'], 'auth-header'],
    [
      'Cookie header',
      'curl -H "Cookie: session=abc123def; csrftoken=zzz999" x',
      ['abc123def', 'zzz999'],
      'cookie-header',
    ],
    ['curl -u user:pass', 'curl -u admin:hunter22 https://api.example.com', ['hunter22'], 'basic-auth'],
    ['curl --user=user:pass', 'curl --user=admin:hunter22 https://x', ['hunter22'], 'basic-auth'],
    ['API_KEY=value', 'API_KEY=abcd1234efgh make deploy', ['abcd1234efgh'], 'secret-assignment'],
    ['export TOKEN', 'export GITHUB_TOKEN=xyz12345abc && gh pr list', ['xyz12345abc'], 'secret-assignment'],
    ['quoted password with space', 'DB_PASSWORD="p@ss word 99" ./run', ['p@ss word 99'], 'secret-assignment'],
    ['JSON password', '{"user":"bob","password":"hunter22"}', ['hunter22'], 'secret-assignment'],
    ['YAML client_secret', 'client_secret: abcdef123456\nother: 1', ['abcdef123456'], 'secret-assignment'],
    [
      'query string api_key',
      'https://api.example.com/v1?api_key=abcdef123&x=1',
      ['abcdef123'],
      'secret-assignment',
    ],
    ['camelCase apiKey', 'const apiKey = "live-0123456789";', ['live-0123456789'], 'secret-assignment'],
    ['token with Bearer scheme', 'token: Bearer qwerty123456', ['qwerty123456'], 'secret-assignment'],
    [
      'secret key after a declined one',
      'https://h.example/v1?api_key=abcdef123',
      ['abcdef123'],
      'secret-assignment',
    ],
    [
      '--token after a valueless flag',
      'tool --verbose --token tok-998877 run',
      ['tok-998877'],
      'secret-flag',
    ],
    ['--password value', 'mysqldump --password hunter22 db', ['hunter22'], 'secret-flag'],
    ['--token=value', 'tool --token=abcdef12 run', ['abcdef12'], 'secret-flag'],
    ['--api-key "value"', 'tool --api-key "k-123456789" run', ['k-123456789'], 'secret-flag'],
    [
      'AWS secret in context',
      'aws configure set aws_secret_access_key Xp4/Rt8Lq2Wn6Zc0Vb3Hm9Jk5Gf1Ds7Ay+Qe2Tu8',
      ['Xp4/Rt8Lq2Wn6Zc0Vb3Hm9Jk5Gf1Ds7Ay+Qe2Tu8'],
      'aws-secret-access-key',
    ],
    [
      'AWS secret as assignment',
      'AWS_SECRET_ACCESS_KEY=q8Zr2LmN0vXt7Yc4Bw1KsJ9dHf6Gp3Ue5TaRi0Ho',
      ['q8Zr2LmN0vXt7Yc4Bw1KsJ9dHf6Gp3Ue5TaRi0Ho'],
      'secret-assignment',
    ],
  ];
  for (const [name, input, gone, id] of cases) {
    test(name, () => {
      const r = redactText(input);
      for (const g of gone) assert.ok(!r.text.includes(g), `${g} survived in ${r.text}`);
      assert.ok(r.hits.includes(id), `${id} not in ${r.hits.join(',')}: ${r.text}`);
      assert.ok(r.text.includes(`<redacted:${id}>`), r.text);
    });
  }

  test('context around a header is kept', () => {
    assert.equal(
      redactText('curl -H "Authorization: Bearer abcdef1234567890" https://x').text,
      'curl -H "Authorization: Bearer <redacted:auth-header>" https://x',
    );
    assert.equal(
      redactText('psql postgres://app:s3cr3t@db/x').text,
      'psql postgres://app:<redacted:url-credentials>@db/x',
    );
    assert.equal(redactText('API_KEY=abcd1234efgh make').text, 'API_KEY=<redacted:secret-assignment> make');
  });
});

describe('redactText: benign strings survive', () => {
  const benign = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '2a8611e7-0806-4a69-93cf-1ec49e3ad0ca',
    'PASSWORD_MIN_LENGTH=12',
    'TOKEN_TTL=3600',
    '/home/dev/project/src/keyboard.ts',
    '/home/dev/.claude/projects/-home-dev-project/2a8611e7-0806-4a69-93cf-1ec49e3ad0ca.jsonl',
    'git show 3f1ef7c2860523314e2c1b07d95f1db5235f66b1',
    'aws-cli at commit 3f1ef7c2860523314e2c1b07d95f1db5235f66b1',
    'skip-ant-tests',
    'max_tokens=4096 input_tokens: 2689',
    'echo hi',
    'git push -u origin main',
    'docker run -u 1000:1000 image',
    'password: string;',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    'TOKEN=${GITHUB_TOKEN} API_KEY=$API_KEY SECRET=%SECRET%',
    'https://example.com/path?q=1&page=2',
    'Authorization: Bearer $TOKEN',
    'the key is in the keyring; passthrough mode; bypass',
    'const token = tokens.next();',
    'password = config.db.password',
    'toolu_mockmwq8tyjb0000 msg_mockmwq8tyjm0001 a1c69b109ed99d9b3',
    'tool_use_id transcript_path permission_mode',
    'cat ./missing-file.txt',
  ];
  for (const s of benign) {
    test(JSON.stringify(s), () => {
      const r = redactText(s);
      assert.equal(r.text, s);
      assert.deepEqual(r.hits, []);
    });
  }
});

describe('isSecretKey', () => {
  test('secret names', () => {
    for (const k of [
      'password',
      'DB_PASSWORD',
      'dbPassword',
      'api_key',
      'apiKey',
      'X-Api-Key',
      'Authorization',
      'client_secret',
      'GITHUB_TOKEN',
      'access_token',
      'aws_secret_access_key',
      'private_key',
      'secret_key_base',
      'cookie',
      'passwd',
      'npm_config__authToken',
    ])
      assert.equal(isSecretKey(k), true, k);
  });
  test('not secret names', () => {
    for (const k of [
      'PASSWORD_MIN_LENGTH',
      'max_tokens',
      'input_tokens',
      'totalTokens',
      'tokenType',
      'token_count',
      'password_file',
      'key',
      'keyboard',
      'tool_use_id',
      'session_id',
      'transcript_path',
      'aws_access_key_id',
      'tokenizer',
      'bypass',
      'compass',
      'author',
    ])
      assert.equal(isSecretKey(k), false, k);
  });
});

describe('bounds and linear time', () => {
  test('fields over 64 KiB are cut with a marker, dropping a partial last token', () => {
    const big = `${'word '.repeat(20_000)}${SAMPLE_SECRETS.githubPat}`;
    const r = redactText(big);
    assert.ok(r.text.length < MAX_FIELD_CHARS + 64);
    assert.match(r.text, /…<truncated:\d+ chars>$/);
    assert.ok(!r.text.includes('ghp_'));
  });

  test('truncateField leaves short strings alone and never splits a surrogate pair', () => {
    assert.equal(truncateField('abc', 10), 'abc');
    const s = 'a'.repeat(9) + '😀'.repeat(10);
    const t = truncateField(s, 10);
    assert.ok(!/[\ud800-\udbff]…/.test(t), t);
  });

  const hostile: [string, string][] = [
    ['long word run', 'a'.repeat(70_000)],
    ['repeated sk-ant-', 'sk-ant-'.repeat(10_000)],
    ['repeated ey-', 'ey-'.repeat(22_000)],
    ['ey runs without dots', `eyJ${'A'.repeat(30_000)} eyJ${'b'.repeat(30_000)}`],
    ['repeated password=', 'password='.repeat(7_000)],
    ['identifier run with a secret word', `${'TOKEN'.repeat(13_000)}=x`],
    ['repeated BEGIN', '-----BEGIN RSA PRIVATE KEY-----'.repeat(2_000)],
    ['repeated END', `-----BEGIN PRIVATE KEY-----${'-----END'.repeat(8_000)}`],
    ['repeated scheme', 'https://'.repeat(8_000)],
    ['scheme with long user', `https://${'u'.repeat(60_000)}`],
    ['upper case run', 'A'.repeat(65_000)],
    ['base64 run near aws', `aws ${'Ab/+'.repeat(16_000)}`],
    ['many colons', 'a:'.repeat(32_000)],
    ['many headers', 'Authorization: '.repeat(4_000)],
    ['many dashes', '--token '.repeat(8_000)],
    ['cookie lines', 'cookie:'.repeat(9_000)],
  ];
  for (const [name, s] of hostile) {
    test(`hostile input: ${name}`, () => {
      const t0 = performance.now();
      redactText(s);
      const ms = performance.now() - t0;
      assert.ok(ms < 1500, `${name} took ${ms.toFixed(0)} ms`);
    });
  }
});

describe('redactDeep', () => {
  test('redacts every string, keys too; replaces values under secret keys; keeps other types', () => {
    const input = {
      command: `curl -H "Authorization: Bearer ${SAMPLE_SECRETS.jwt}" https://x`,
      headers: { Authorization: 'Bearer opaque-value-123', 'Content-Type': 'application/json' },
      nested: [{ password: 'hunter22', n: 3, ok: true, none: null }],
      [SAMPLE_SECRETS.githubPat]: 'key is a token',
      max_tokens: 4096,
      tokenType: 'bearer',
    };
    const hits: string[] = [];
    const out = redactDeep(input, hits);
    const json = JSON.stringify(out);
    assert.ok(!json.includes(SAMPLE_SECRETS.jwt));
    assert.ok(!json.includes('opaque-value-123'));
    assert.ok(!json.includes('hunter22'));
    assert.ok(!json.includes(SAMPLE_SECRETS.githubPat));
    assert.equal(out.headers['Content-Type'], 'application/json');
    assert.deepEqual(out.nested[0], { password: '<redacted:secret-field>', n: 3, ok: true, none: null });
    assert.equal(out.max_tokens, 4096);
    assert.equal(out.tokenType, 'bearer');
    assert.ok(hits.includes('secret-field') && hits.includes('jwt') && hits.includes('github-token'));
    // the input is untouched
    assert.equal(input.nested[0]?.password, 'hunter22');
  });

  test('depth is bounded', () => {
    let v: unknown = 'leaf';
    for (let i = 0; i < 5000; i++) v = [v];
    const out = JSON.stringify(redactDeep(v));
    assert.ok(out.includes('<redacted:too-deep>'));
  });
});

describe('properties', () => {
  const secrets = Object.values(SAMPLE_SECRETS);
  test('a planted token never survives, whatever surrounds it', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.constantFrom(...secrets),
        fc.string({ maxLength: 200 }),
        fc.constantFrom(' ', '\n', '"', "'", '=', ': ', '\t', ';', '(', ','),
        fc.constantFrom(' ', '\n', '"', "'", '\t', ';', ')', ','),
        (a, secret, b, l, r) => {
          const out = redactText(`${a}${l}${secret}${r}${b}`).text;
          return !out.includes(secret);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('never throws; output bounded', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 500 }), (s) => {
        const r = redactText(s);
        return typeof r.text === 'string' && r.text.length <= MAX_FIELD_CHARS + 64;
      }),
      { numRuns: 3000 },
    );
  });
});

describe('redactText: documented placeholders and low-entropy values stay', () => {
  const kept = [
    'const id = "AKIAIOSFODNN7EXAMPLE";',
    'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'token = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    'ANTHROPIC_API_KEY=sk-ant-api03-xxxxx',
    'password: $' + '{DB_PASSWORD}',
    'token: $' + '{{ secrets.NPM_TOKEN }}',
    'PASSWORD_MIN_LENGTH=12',
    'API_KEY=your-api-key-here',
    'SESSION_TOKEN=aaaaaaaaaaaa',
    'digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    'request id 123e4567-e89b-12d3-a456-426614174000',
  ];
  for (const text of kept) {
    test(text, () => {
      const r = redactText(text);
      assert.equal(r.text, text, `changed: ${r.text}`);
      assert.deepEqual(r.hits, []);
    });
  }

  test('a password stays redacted even when it is a plain word', () => {
    assert.equal(redactText('DB_PASSWORD=hunter22').text, 'DB_PASSWORD=<redacted:secret-assignment>');
  });

  test('a random value under a token name is redacted, a repeated pattern is not', () => {
    assert.ok(redactText('DEPLOY_TOKEN=q7Rk2Lm9Xz4Vb').hits.includes('secret-assignment'));
    assert.deepEqual(redactText('DEPLOY_TOKEN=abababababab').hits, []);
  });
});
