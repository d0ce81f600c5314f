// API keys of the vendors whose keys are a fixed prefix and a body of known length, and random
// bodies that happen to hold no digit. Each key is built from the vendor's documented shape with
// a deterministic random body, never copied from anywhere.
import { describe, expect, it } from 'vitest';
import { redact, scan } from '../../src/domain/pii/index.js';

const found = (text: string) => scan(text).map((d) => `${d.type}:${d.value}`);

/** A deterministic body of `n` characters from `alphabet` (mulberry32: the same keys every run). */
function body(n: number, alphabet: string, seed: number): string {
  let a = seed >>> 0;
  let out = '';
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out += alphabet[((t ^ (t >>> 14)) >>> 0) % alphabet.length];
  }
  return out;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const B64URL = `${ALNUM}-_`;
const HEX = '0123456789abcdef';

const KEYS: Array<[string, string]> = [
  ['npm', `npm_${body(36, ALNUM, 1)}`],
  ['Hugging Face', `hf_${body(34, LETTERS, 2)}`],
  ['SendGrid', `SG.${body(22, B64URL, 3)}.${body(43, B64URL, 4)}`],
  ['Groq', `gsk_${body(52, ALNUM, 5)}`],
  ['xAI', `xai-${body(80, ALNUM, 6)}`],
  ['Replicate', `r8_${body(37, ALNUM, 7)}`],
  ['Perplexity', `pplx-${body(48, ALNUM, 8)}`],
  ['Shopify', `shpat_${body(32, HEX, 9)}`],
  ['DigitalOcean', `dop_v1_${body(64, HEX, 10)}`],
  ['Postman', `PMAK-${body(24, HEX, 11)}-${body(34, HEX, 12)}`],
  ['OpenAI, no digit in the body', `sk-proj-${body(40, LETTERS, 13)}`],
  ['Anthropic', `sk-ant-api03-${body(93, B64URL, 14)}AA`],
];

describe('prefixes found in order of start, as one regex would (keys.ts reads them with two)', () => {
  const stripe = `sk_live_${body(24, ALNUM, 30)}`;
  const aws = body(40, `${ALNUM}/+`, 31);
  it.each([
    // `gsk_` holds `sk_`: the longer prefix, starting first, is the one read
    ['a Groq key, not the sk_ inside it', `gsk_${body(52, ALNUM, 5)}`, [`gsk_${body(52, ALNUM, 5)}`]],
    // a prefix inside a key's body is part of the key
    ['a prefix inside a body', `xoxb-sk-${body(30, ALNUM, 32)}`, [`xoxb-sk-${body(30, ALNUM, 32)}`]],
    // a key name (found by its letters) before a prefixed key (found by its '_'), and after one
    ['a key name, then a key', `secret: ${stripe}`, [stripe]],
    ['a key, then an AWS key name and key', `${stripe} aws_secret_access_key = ${aws}`, [stripe, aws]],
    [
      'an access key id and its secret beside a prefixed key',
      `AKIA${body(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 33)} ${aws} ${stripe}`,
      [`AKIA${body(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 33)}`, aws, stripe],
    ],
  ])('%s', (_case, text, keys) => {
    expect(scan(text).map((d) => d.value)).toEqual(keys);
  });
});

describe('vendor API keys', () => {
  it.each(KEYS)('%s', (_vendor, key) => {
    expect(found(`export TOKEN=${key}`)).toEqual([`API_KEY:${key}`]);
    expect(found(`{"token": "${key}", "n": 1}`)).toEqual([`API_KEY:${key}`]);
    expect(redact(`use ${key} here`).text).toBe('use [API_KEY_REDACTED] here');
  });

  // A key's test reads the key, never the text after it (a SendGrid key was missed in any text
  // with a '.' anywhere after it, and at a sentence's end), so a key is found wherever it stands.
  it.each(KEYS)('%s, at the end of a sentence and before others', (_vendor, key) => {
    expect(found(`The key is ${key}.`)).toEqual([`API_KEY:${key}`]);
    expect(found(`Use ${key}. Rotate it by Friday. Thanks.`)).toEqual([`API_KEY:${key}`]);
    expect(found(`keys: ${key}, ${key}... and v1.2`)).toEqual([`API_KEY:${key}`, `API_KEY:${key}`]);
    expect(redact(`(${key}). Done.`).text).toBe('([API_KEY_REDACTED]). Done.');
  });

  it('random bodies without a digit are keys: every one of 2,000 drawn', () => {
    let missed = 0;
    for (let seed = 100; seed < 2100; seed++) {
      const key = `sk-${body(24 + (seed % 24), LETTERS, seed)}`;
      if (found(`key ${key}`).join() !== `API_KEY:${key}`) missed++;
    }
    expect(missed).toBe(0);
  });

  it.each([
    'sk-your-api-key-goes-here',
    'sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    'hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    'hf_abcdefghijklmnopqrstuvwxyzabcdefgh',
    `npm_${'x'.repeat(36)}`,
    // too short or too long for the vendor's fixed length
    `npm_${body(30, ALNUM, 20)}`,
    `gsk_${body(60, ALNUM, 21)}`,
    `shpat_${body(31, HEX, 22)}`,
    // a SendGrid-like string without its dot in place
    `SG.${body(66, ALNUM, 23)}`,
    // words that merely start like a prefix
    'the npm_install step and hf_hub_download() and SG.forEach',
    'sk-ALLUPPERCASELETTERSONLYHERE',
  ])('near miss: %s', (text) => {
    expect(found(text)).toEqual([]);
  });
});

// An AWS secret key counts after its name or access key id through separators only; markdown and
// brackets (`**`, `(`, `[`, `{`, `<`) were none, so `aws_secret_access_key: **…**` was missed.
describe('an AWS secret key in markup or brackets is found', () => {
  const aws = body(40, `${ALNUM}/+`, 34);
  const id = `AKIA${body(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 35)}`;
  it.each([`aws_secret_access_key: **${aws}**`, `secret_key: (${aws})`, `SecretAccessKey=[${aws}]`, `{"secret": {${aws}}}`, `secret key: <${aws}>`, `| aws_secret_access_key | \`${aws}\` |`])(
    '%s',
    (text) => {
      expect(scan(text).map((d) => d.value)).toEqual([aws]);
    },
  );

  it('after an access key id, in brackets', () => {
    expect(scan(`(${id}) (${aws})`).map((d) => d.value)).toEqual([id, aws]);
    expect(scan(`**${id}** / **${aws}**`).map((d) => d.value)).toEqual([id]);
  });
});

describe("a URL's password is a credential (API_KEY)", () => {
  const found = (text: string) => scan(text).map((d) => `${d.type}:${d.value}`);
  it.each([
    ['postgres://app:hunter2@db.internal:5432/crm', 'hunter2'],
    ['DATABASE_URL="mysql://root:toor@localhost/shop"', 'toor'],
    ['redis://:longpassword1234567890@cache:6379', 'longpassword1234567890'],
    ['amqps://guest:g:u:e:s:t@mq.example.com', 'g:u:e:s:t'],
    ['mongodb+srv://app:Zx9%40pw@cluster0.example.net/?retryWrites=true', 'Zx9%40pw'],
    ['[the db](postgres://u:p4ss@h)', 'p4ss'],
    // An '@' in the password (unencoded): the URL's reading takes it whole, no address's end leaks its start.
    ['mongodb+srv://app:pa@ss@cluster0.example.net/?retryWrites=true', 'pa@ss'],
    ['jdbc:postgresql://svc:S3cr3t!@10.1.2.3/app', 'S3cr3t!'],
    ['https://bob:pw@[2001:db8::1]:8443/', 'pw'],
    // A user name that reaches further back than a decision may read: the user information whole.
    ['postgresql://a_service_account_name_long:pw0rd@db/x', 'a_service_account_name_long:pw0rd'],
  ])('%s', (text, secret) => {
    expect(found(text).filter((f) => f.startsWith('API_KEY:'))).toEqual([`API_KEY:${secret}`]);
  });

  it.each([
    'postgres://admin:****@db.example.com',
    'postgres://u:${DB_PASS}@db',
    'postgres://u:$DB_PASS@db',
    'postgres://u:<password>@db',
    'postgres://u:{{ password }}@db',
    'postgres://u:[API_KEY_REDACTED]@db',
    'postgres://u:%s@db',
    'postgres://u:@db',
    'https://user@host.example.com:8080/path',
    'ftp://host.example.com:21/',
    'https://example.com/a:b@c',
    'see foo://x:y and z@w',
    'xpostgres_://u:p@db',
    'postgres://u:p@/path',
  ])('not %s', (text) => {
    expect(found(text).filter((f) => f.startsWith('API_KEY:'))).toEqual([]);
  });

  it("an address after a handle's @ is still one; one glued to another address's @ is none", () => {
    expect(found('Follow me @jane@mastodon.social!')).toEqual(['EMAIL:jane@mastodon.social']);
    expect(found('mongodb://app:pa@ss@cluster0.example.net')).toEqual(['API_KEY:pa@ss']);
    expect(found('x a@b@c.com y')).toEqual([]);
  });

  it('redacts the password alone, and a redacted text stays as it is', () => {
    const once = redact('url: https://bob:s3cr3t-Pa55@api.example.org/v1').text;
    expect(once).toBe('url: https://bob:[API_KEY_REDACTED]@api.example.org/v1');
    expect(redact(once).text).toBe(once);
  });
});
