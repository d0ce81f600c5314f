import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { agentPrefix, newAgentId } from '../../src/core/ids.js';
import { formatCount, formatUsd, parseUsd } from '../../src/core/money.js';
import { createLogger } from '../../src/core/logger.js';
import { LineSplitter } from '../../src/supervisor/lines.js';
import { HostGuard } from '../../src/server/hosts.js';

describe('money', () => {
  it('parses what users type for a budget into micro-dollars', () => {
    expect(parseUsd('50')).toBe(50_000_000);
    expect(parseUsd('50.00')).toBe(50_000_000);
    expect(parseUsd('$50')).toBe(50_000_000);
    expect(parseUsd('$1,250.5')).toBe(1_250_500_000);
    expect(parseUsd('0.000001')).toBe(1);
    for (const bad of ['', 'fifty', '50$', '-5', '1.2.3', '$', '1,25', '0.0000001', '1e3']) expect(parseUsd(bad)).toBeNull();
  });
  it('formats like the dashboard', () => {
    expect(formatUsd(5_290_000)).toBe('$5.29');
    expect(formatUsd(50_000_000)).toBe('$50.00');
    expect(formatUsd(1_234_567_890)).toBe('$1,234.57');
    expect(formatUsd(1_200)).toBe('$0.0012');
    expect(formatUsd(0)).toBe('$0.00');
  });
});

describe('counts', () => {
  it('are written as en-US writes them; whole ones without loading ICU (toLocaleString costs ~40 ms the first time)', () => {
    for (const n of [0, 7, 999, 1000, 12_345, 1_234_567, 1_000_000_000, -1, -1234, 2.5, 1234.5, 1.0005, 0.0004, 12_345.6789, -9876.54321, 1e21, Number.POSITIVE_INFINITY]) {
      expect(formatCount(n), String(n)).toBe(n.toLocaleString('en-US'));
    }
    expect(formatCount(Number.NaN)).toBe('NaN');
  });
});

describe('agent ids', () => {
  it('take their prefix from the script name', () => {
    expect(agentPrefix('lead_gen_agent.py')).toBe('lg');
    expect(agentPrefix('/x/y/hello_agent.py')).toBe('he');
    expect(agentPrefix('agent.py')).toBe('ag');
    expect(agentPrefix('a.py')).toBe('aa');
    expect(agentPrefix('My-Big-Data-Crawler-Bot.py')).toBe('mbdc');
    expect(agentPrefix('___.py')).toBe('ag');
    const id = newAgentId('lead_gen_agent.py');
    expect(id).toMatch(/^lg-[0-9a-f]{8}$/);
    expect(id).toMatch(/^[a-z0-9]{2,4}-[0-9a-f]{8}$/);
    expect(newAgentId('x.py')).not.toBe(newAgentId('x.py'));
  });
});

describe('line splitter', () => {
  const collect = (max?: number) => {
    const lines: string[] = [];
    return { lines, s: new LineSplitter((l) => lines.push(l), max) };
  };
  it('joins partial chunks and handles CRLF and a last unterminated line', () => {
    const { lines, s } = collect();
    s.push(Buffer.from('hel'));
    s.push(Buffer.from('lo\r\nwor'));
    s.push(Buffer.from('ld\n\nlast'));
    s.end();
    expect(lines).toEqual(['hello', 'world', '', 'last']);
  });
  it('does not split a multi-byte character across chunks', () => {
    const { lines, s } = collect();
    const bytes = Buffer.from('zażółć\n');
    for (const b of bytes) s.push(Buffer.from([b]));
    expect(lines).toEqual(['zażółć']);
  });
  it('cuts a line with no newline at the cap instead of buffering it forever', () => {
    const { lines, s } = collect(10);
    s.push(Buffer.from('x'.repeat(25)));
    expect(lines).toEqual(['x'.repeat(10), 'x'.repeat(10)]);
    s.push(Buffer.from('\n'));
    expect(lines.at(-1)).toBe('xxxxx');
  });
});

describe('host guard', () => {
  const g = new HostGuard('127.0.0.1', 8080, ['iron.internal:8080'], ['http://localhost:5173']);
  it('accepts our own names with our port', () => {
    for (const h of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'LOCALHOST:8080', 'iron.internal:8080', '10.1.2.3:8080']) expect(g.allowsHost(h)).toBe(true);
  });
  it('rejects other names and ports (DNS rebinding)', () => {
    for (const h of [undefined, '', 'evil.example:8080', 'evil.example', 'localhost:9999', '127.0.0.1', 'localhost.evil.example:8080']) expect(g.allowsHost(h)).toBe(false);
  });
  it('answers CORS for its loopback origins and configured ones only', () => {
    expect(g.allowsOrigin('http://localhost:8080')).toBe(true);
    expect(g.allowsOrigin('http://127.0.0.1:8080')).toBe(true);
    expect(g.allowsOrigin('http://localhost:5173')).toBe(true);
    expect(g.allowsOrigin('http://localhost:5174')).toBe(false);
    expect(g.allowsOrigin('https://evil.example')).toBe(false);
    expect(g.allowsOrigin('http://10.1.2.3:8080')).toBe(false);
    expect(g.sameOriginOrAllowed('http://10.1.2.3:8080', '10.1.2.3:8080')).toBe(true);
  });
});

describe('terminal log format', () => {
  it('matches the spec: [HH:MM:SS] LEVEL agent-id message', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => (text += c));
    const log = createLogger({ format: 'pretty', level: 'debug', stream: out, color: false });
    log.info({ agentId: 'lg-7a3f9c2d' }, 'Agent started');
    log.warn('Budget at 90%');
    log.debug({ agentId: 'lg-7a3f9c2d' }, 'detail');
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO {2}lg-7a3f9c2d Agent started$/);
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\] WARN {2}Budget at 90%$/);
    expect(lines[2]).toMatch(/^\[\d\d:\d\d:\d\d\] DEBUG lg-7a3f9c2d detail$/);
  });
  it('writes one JSON object per line with --log-format json', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => (text += c));
    createLogger({ format: 'json', level: 'info', stream: out }).info({ agentId: 'lg-1' }, 'hello');
    expect(JSON.parse(text)).toMatchObject({ level: 'info', agentId: 'lg-1', msg: 'hello', time: expect.any(String) });
  });
});
