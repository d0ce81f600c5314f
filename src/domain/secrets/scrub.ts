// Credentials iron-cage itself sends on the agent's behalf (a tool service's `${secret:…}` or
// configured auth header, a provider's API key) must never come back to the agent or reach the
// disk in an answer that echoes them: a debugging endpoint, an error page, a redirect. They are
// not found by looking like PII: they are known, so their exact values are taken out, in the
// forms an echo commonly gives them.

/** What an echoed credential is replaced with. */
export const CREDENTIAL_REDACTED = '[CREDENTIAL_REDACTED]';

/** Shorter values are not scrubbed: they would match by chance in ordinary text. A real credential is longer. */
export const CREDENTIAL_MIN_LENGTH = 8;

/** Auth schemes a header value may start with; what follows is the credential itself. */
const SCHEME = /^(bearer|basic|token|digest|apikey|api-key|key|bot)\s+/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Every form of a credential an answer may echo it in: as sent, with its scheme's word taken
 * off (`Bearer …`), URL-encoded, JSON-escaped, base64 (and base64url) encoded, and, for a Basic
 * auth value, decoded to `user:pass` and its password alone. Forms shorter than
 * CREDENTIAL_MIN_LENGTH are left out.
 *
 * @example
 *   credentialForms('Basic YWxhZGRpbjpvcGVuc2VzYW1l')
 *   // ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'YWxhZGRpbjpvcGVuc2VzYW1l', 'aladdin:opensesame', 'opensesame', …]
 */
export function credentialForms(value: string): string[] {
  const out = new Set<string>();
  const add = (v: string) => {
    if (v.length < CREDENTIAL_MIN_LENGTH) return;
    out.add(v);
    out.add(encodeURIComponent(v));
    out.add(JSON.stringify(v).slice(1, -1));
  };
  const whole = value.trim();
  add(whole);
  const bare = whole.replace(SCHEME, '');
  add(bare);
  for (const v of [whole, bare]) {
    if (v.length < CREDENTIAL_MIN_LENGTH) continue;
    const b = Buffer.from(v, 'utf8');
    add(b.toString('base64'));
    add(b.toString('base64url'));
    add(b.toString('base64').replace(/=+$/, ''));
  }
  // A Basic value is base64 of user:pass: the decoded pair, and the password on its own.
  if (BASE64.test(bare) && bare.length % 4 === 0) {
    const decoded = Buffer.from(bare, 'base64').toString('utf8');
    if (/^[\x20-\x7e]+:[\x20-\x7e]+$/.test(decoded)) {
      add(decoded);
      add(decoded.slice(decoded.indexOf(':') + 1));
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Takes the given credentials, in all their forms, out of text and bytes.
 *
 * @example
 *   const scrub = new CredentialScrubber(['Bearer sk-live-0123456789']);
 *   scrub.text('you sent Bearer sk-live-0123456789') // { text: 'you sent [CREDENTIAL_REDACTED]', found: 1 }
 */
export class CredentialScrubber {
  private readonly forms: string[];
  private readonly pattern: RegExp | null;
  private readonly bytes: Buffer[];

  constructor(values: Iterable<string>) {
    const forms = new Set<string>();
    for (const v of values) for (const f of credentialForms(v)) forms.add(f);
    this.forms = [...forms].sort((a, b) => b.length - a.length);
    this.pattern = this.forms.length === 0 ? null : new RegExp(this.forms.map(escapeRe).join('|'), 'g');
    this.bytes = this.forms.map((f) => Buffer.from(f, 'utf8'));
  }

  /** Nothing to take out: every call costs nothing then. */
  get empty(): boolean {
    return this.forms.length === 0;
  }

  /**
   * Whether `s` holds any form of a credential: a text that does not holds none in any part of
   * it either, so a caller that splits it need not scrub each part.
   */
  holds(s: string): boolean {
    if (this.pattern === null) return false;
    this.pattern.lastIndex = 0;
    const found = this.pattern.test(s);
    this.pattern.lastIndex = 0;
    return found;
  }

  text(s: string): { text: string; found: number } {
    if (this.pattern === null) return { text: s, found: 0 };
    let found = 0;
    const text = s.replace(this.pattern, () => {
      found++;
      return CREDENTIAL_REDACTED;
    });
    return { text, found };
  }

  /** The same on bytes, whatever they encode (an answer the PII scan may not read as text). */
  buffer(b: Buffer): { body: Buffer; found: number } {
    if (this.bytes.length === 0) return { body: b, found: 0 };
    let body = b;
    let found = 0;
    const mark = Buffer.from(CREDENTIAL_REDACTED);
    for (const form of this.bytes) {
      let at = body.indexOf(form);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(body.subarray(from, at), mark);
        found++;
        from = at + form.length;
        at = body.indexOf(form, from);
      }
      parts.push(body.subarray(from));
      body = Buffer.concat(parts);
    }
    return { body, found };
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
