import { describe, expect, it } from 'vitest';
import { excerpt, oneLine } from '../../src/core/excerpt.js';
import { previewOf } from '../../src/pii/preview.js';
import { mailsText } from '../../src/demo/results.js';
import { Router } from '../../src/gateway/router.js';
import { newLoginLink } from '../../src/auth/links.js';

// What a log line, a pop-up or a terminal row quotes is one line a presenter
// can read aloud: no literal "\n", no blank line, no row repeated per file.

describe('an excerpt is one line', () => {
  it('collapses every run of whitespace, newlines included, and trims', () => {
    expect(oneLine('Best contact: x\n\nService  high\tgood\r\n')).toBe('Best contact: x Service high good');
    expect(oneLine('')).toBe('');
  });

  it('cuts at a word boundary with an ellipsis, never mid-token when a boundary is near, never two ellipses', () => {
    const text = 'the CEO reads her own mail at [EMAIL_REDACTED]\n\nService high good pipeline best customer';
    expect(excerpt(text, 200)).toBe('the CEO reads her own mail at [EMAIL_REDACTED] Service high good pipeline best customer');
    const cut = excerpt(text, 40);
    expect(cut).toBe('the CEO reads her own mail at…');
    expect(cut.length).toBeLessThanOrEqual(40);
    expect(excerpt('…a b c d e f g h…', 10)).not.toMatch(/……/);
    expect(excerpt('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it("a PII finding's preview is one line, whatever lines the text had around it", () => {
    const text = 'Best contact: the CEO reads her own mail at ceo.office@example.com\n\nService high good';
    const start = text.indexOf('ceo.office');
    const preview = previewOf(text, [{ type: 'EMAIL', start, end: start + 'ceo.office@example.com'.length } as never]);
    expect(preview).toContain('[EMAIL_REDACTED] Service high good');
    expect(preview).not.toMatch(/\n|\\n/);
  });
});

describe("the demo's results say the e-mails on one row", () => {
  it('the file when there is one, else how many, the folder and the names', () => {
    expect(mailsText(['/d/mail/001.eml'])).toBe('/d/mail/001.eml');
    expect(mailsText(['/d/mail/001.eml', '/d/mail/002.eml', '/d/mail/003.eml'])).toBe('3 in /d/mail: 001.eml, 002.eml, 003.eml');
  });
});

describe('a simulated provider is warned about once, on the first call routed to it', () => {
  const provider = (name: string, real: boolean) => ({ name, real }) as never;
  const router = (said: string[]) =>
    new Router({ routing: {} } as never, { openai: provider('openai', true), anthropic: provider('anthropic', false), simulated: provider('simulated', false) }, (n) => said.push(n));

  it('never for a provider the run does not call, once for one it does', () => {
    const said: string[] = [];
    const r = router(said);
    for (let i = 0; i < 3; i++) expect(r.resolve('gpt-4o', 'openai')).toMatchObject({ ok: true, provider: { name: 'openai' } });
    expect(said).toEqual([]);
    for (let i = 0; i < 3; i++) expect(r.resolve('claude-3-5-haiku-latest', 'anthropic')).toMatchObject({ ok: true, provider: { name: 'simulated' } });
    expect(said).toEqual(['anthropic']);
  });
});

describe('a dashboard viewer is one line in the event log', () => {
  it('the link made is DEBUG (the start line or `iron-cage dashboard` printed it); the session it opens is the line', () => {
    const { event } = newLoginLink({ ttlMinutes: 15, by: 'runtime' });
    expect(event.severity).toBe('debug');
  });
});
