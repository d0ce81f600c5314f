import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { openSealedValue, sealValue } from '../../src/domain/pii/index.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { newItemId, SealedJson } from '../../src/gateway/stored-items.js';

const logs: string[] = [];
const logger = createLogger({ format: 'json', level: 'info', stream: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) });
const key = new Uint8Array(randomBytes(32));
const body = { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello ☕ "there"', annotations: [] }] };

describe('SealedJson (stored responses and conversation items at rest)', () => {
  it('opens what rows written before hold (sealed by the audit’s sealValue), and what it seals opens with the audit’s openSealedValue: one format', () => {
    const sealed = new SealedJson(key, logger);
    expect(sealed.open(sealValue(JSON.stringify(body), key), 'a1')).toEqual(body);
    const mine = sealed.seal(body);
    expect(mine).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(JSON.parse(openSealedValue(mine, key))).toEqual(body);
    expect(sealed.open(mine, 'a1')).toEqual(body);
  });

  it('never uses a nonce twice (across refills of the pool), and a value altered or under another key does not open', () => {
    const sealed = new SealedJson(key, logger);
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) nonces.add(sealed.seal(body).split('.')[1]!);
    expect(nonces.size).toBe(1000);
    const one = sealed.seal(body);
    const [v, iv, tag, ct] = one.split('.');
    const flipped = `${v}.${iv}.${tag}.${ct!.slice(0, -2)}${ct!.at(-2) === 'A' ? 'B' : 'A'}${ct!.at(-1)}`;
    expect(() => sealed.open(flipped, 'a1')).toThrow(GatewayError);
    expect(() => new SealedJson(new Uint8Array(randomBytes(32)), logger).open(one, 'a1')).toThrow(/could not be read back/);
    expect(logs.some((l) => l.includes('does not open with this key'))).toBe(true);
    expect(() => new SealedJson(new Uint8Array(16), logger)).toThrow(/32 bytes/);
  });

  it('gives new items ids in OpenAI’s form, each its own', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newItemId({ type: 'message' })));
    expect(ids.size).toBe(500);
    const MSG_ID = /^msg_[0-9a-f]{32}$/;
    for (const id of ids) if (!MSG_ID.test(id)) expect(id).toMatch(MSG_ID);
    expect(newItemId({ type: 'function_call_output' })).toMatch(/^fco_[0-9a-f]{32}$/);
    expect(newItemId({ type: 'reasoning' })).toMatch(/^item_[0-9a-f]{32}$/);
  });

  it('begins an id with its time, so later ids sort after earlier ones (the index by item id grows at its end)', () => {
    const t = Date.UTC(2026, 10, 24);
    const ids = Array.from({ length: 200 }, (_, i) => newItemId({}, t + i));
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]!.slice(4, 16)).toBe(t.toString(16).padStart(12, '0'));
    expect(new Set(Array.from({ length: 200 }, () => newItemId({}, t).slice(16))).size).toBe(200);
  });
});
