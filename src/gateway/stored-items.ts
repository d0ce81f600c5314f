import { createSecretKey, type KeyObject, randomFillSync } from 'node:crypto';
import * as z from 'zod';
import type { Logger } from '../core/logger.js';
import { formatCount } from '../core/money.js';
import { queryInt } from '../core/validation.js';
import { openSealedValue, sealValue } from '../domain/pii/index.js';
import { GatewayError } from './errors.js';

// What stored responses (responses-state.ts) and conversations (conversations.ts) share: items
// as OpenAI lists them, their ids, and bodies sealed at rest under the one responses key.

export type Body = Record<string, unknown>;
export const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Random bytes for ids and nonces, drawn from a pool the CSPRNG fills 4 KB at a time: one
 * `randomBytes` call per id or nonce cost more than the AES-GCM sealing it was for. The bytes
 * are used at once (copied into a cipher or encoded) and never handed out twice.
 */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let pooled = POOL_SIZE;
function random(n: number): Buffer {
  if (pooled + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
    pooled = 0;
  }
  return pool.subarray(pooled, (pooled += n));
}

/**
 * A new item id in OpenAI's form (`msg_…`), for an input item sent without one: the time in
 * milliseconds (6 bytes), then 10 random bytes, in hex. OpenAI's own ids begin with the time too;
 * here it makes an agent's new ids land at the end of the `(agent_id, item_id)` index, one page a
 * commit, where random ids dirtied a page of it each (~7 µs a stored turn's input item).
 */
export function newItemId(item: Body, now = Date.now()): string {
  const prefix = item.type === undefined || item.type === 'message' ? 'msg' : item.type === 'function_call_output' ? 'fco' : 'item';
  const id = Buffer.allocUnsafe(16);
  id.writeUIntBE(now, 0, 6);
  random(10).copy(id, 6);
  return `${prefix}_${id.toString('hex')}`;
}

/** What one request may expand stored state to (`responses.max_references`, `responses.max_context_mb`). */
export interface ExpansionLimits {
  maxReferences: number;
  maxContextBytes: number;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MB`;

/**
 * What one request's stored state expands to, counted from the rows as stored (sealed:
 * base64url of the JSON, so three quarters of a sealed body's length is the JSON it opens to)
 * before any of it is opened, parsed or sent: a reference repeated counts each time it repeats,
 * since each copy goes upstream. Past a limit the request is OpenAI's 400, naming the limit and
 * its key, and nothing was opened (a few references could otherwise make megabytes of memory and
 * seconds of one agent's CPU out of one small request).
 */
export class Expansion {
  private bytes = 0;

  constructor(private readonly limits: ExpansionLimits) {}

  /** A request holding `n` `item_reference`s. */
  references(n: number): void {
    if (n > this.limits.maxReferences)
      throw new GatewayError(
        'invalid_request',
        `input: ${n} item references in one request; at most ${this.limits.maxReferences} (responses.max_references). Send fewer, or the items themselves.`,
        false,
        undefined,
        'too_many_references',
      );
  }

  /** Stored rows whose sealed bodies are `sealedLength` long in all, about to be opened into the request. */
  add(sealedLength: number): void {
    this.bytes += Math.ceil((sealedLength * 3) / 4);
    if (this.bytes > this.limits.maxContextBytes)
      throw new GatewayError(
        'invalid_request',
        `input: the stored state this request refers to (previous responses, a conversation, referenced items, each time it is referred to) comes to more than ${mb(this.limits.maxContextBytes)} (responses.max_context_mb). Refer to less of it, or start a new conversation.`,
        false,
        undefined,
        'context_too_large',
      );
  }
}

/** What one agent may keep stored (`responses.max_stored_mb_per_agent`, `responses.max_stored_items_per_agent`). */
export interface QuotaLimits {
  maxStoredBytes: number;
  maxStoredItems: number;
}

/**
 * Each agent's stored state bounded (a free write could otherwise grow the state file by hundreds
 * of megabytes a minute, charged nothing): before a write that adds to it, what the agent keeps
 * (`usage`, as the state file's triggers keep it) plus what the write would add as stored must
 * fit (sealed: base64url of the JSON, so four thirds of JSON not sealed yet: `asStored`). Past either limit,
 * OpenAI's 400 naming the key and the figures, and nothing is sent or written. Deleting stored
 * responses or conversations frees room; so does their expiry.
 */
export class StoredQuota {
  constructor(
    private readonly limits: QuotaLimits,
    private readonly usage: (agentId: string) => { bytes: number; items: number },
  ) {}

  /** Would `bytes` more (as stored) in `items` more items fit the agent's quota? Throws when not. */
  check(agentId: string, bytes: number, items: number): void {
    const u = this.usage(agentId);
    const adds = bytes;
    const what = (bytes: number, n: number) => `${mb(bytes)} and ${formatCount(n)} item${n === 1 ? '' : 's'}`;
    if (u.bytes + adds > this.limits.maxStoredBytes || u.items + items > this.limits.maxStoredItems) {
      const over =
        u.bytes + adds > this.limits.maxStoredBytes
          ? `${mb(this.limits.maxStoredBytes)} (responses.max_stored_mb_per_agent)`
          : `${formatCount(this.limits.maxStoredItems)} items (responses.max_stored_items_per_agent)`;
      throw new GatewayError(
        'invalid_request',
        `this agent keeps ${what(u.bytes, u.items)} of stored responses and conversations; keeping this would pass its ${over}. Delete stored responses or conversations it no longer needs, or send \`store: false\`.`,
        false,
        undefined,
        'storage_quota_exceeded',
      );
    }
  }
}

/** What `v` would take stored (sealed: base64url of its JSON, four thirds of it); 0 for nothing. */
export function asStored(v: unknown): number {
  return v === undefined ? 0 : Math.ceil(((JSON.stringify(v)?.length ?? 0) * 4) / 3);
}

/** A request's `input` as items: a string is one user message. */
export function inputItems(input: unknown): Body[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return Array.isArray(input) ? (input.filter(isObject) as Body[]) : [];
}

/** An item as OpenAI lists it: with its id, a message typed, its string content as one part, and a status. */
export function listed(itemId: string, item: Body): Body {
  const out: Body = { ...item, id: itemId };
  if (out.type === undefined && out.role !== undefined) out.type = 'message';
  if (out.type === 'message' && typeof out.content === 'string') out.content = [{ type: out.role === 'assistant' ? 'output_text' : 'input_text', text: out.content }];
  if (out.type === 'message' && out.status === undefined) out.status = 'completed';
  return out;
}

/** A list route's `limit`. */
const LIMIT = queryInt(z.number().min(1).max(100));

/** `after`, `limit` (1-100, 20 by default) and `order` (`asc` or `desc`, newest first by default) of a list route. */
export function pageOf<T extends { itemId: string }>(rows: T[], url: string | undefined): { page: T[]; hasMore: boolean } {
  const q = new URL(url ?? '/', 'http://gateway').searchParams;
  // Each of these read once; `include[]` may repeat (the SDKs send an array so).
  for (const name of ['after', 'limit', 'order']) if (q.getAll(name).length > 1) throw new GatewayError('invalid_request', `Duplicate query parameter '${name}': give it once.`, false);
  // in digits (Number() reads `1e1` as 10 and `0x14` as 20)
  const limitParam = q.get('limit');
  const parsed = limitParam === null ? null : LIMIT.safeParse(limitParam);
  if (parsed !== null && !parsed.success) throw new GatewayError('invalid_request', `Invalid 'limit': ${limitParam}. Expected an integer from 1 to 100.`, false);
  const limit = parsed?.data ?? 20;
  const order = q.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_request', `Invalid value for 'order': '${order}'. Supported values are: 'asc' and 'desc'.`, false);
  let out = order === 'desc' ? [...rows].reverse() : rows;
  const after = q.get('after');
  if (after !== null) {
    const at = out.findIndex((x) => x.itemId === after);
    if (at < 0) throw new GatewayError('not_found', `Item with id '${after}' not found.`, false);
    out = out.slice(at + 1);
  }
  return { page: out.slice(0, limit), hasMore: out.length > limit };
}

/** A list answer as OpenAI's list routes give it. */
export function listAnswer(data: Body[], hasMore: boolean): Body {
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}

/**
 * JSON sealed at rest (the audit's `sealValue`: AES-256-GCM) and opened again; a body that no
 * longer opens is said plainly. The key is imported once and nonces come from the pool (about
 * 9 µs a value with a key and a `randomBytes` per seal, 6-7 this way).
 */
export class SealedJson {
  private readonly cipherKey: KeyObject;

  constructor(
    private readonly key: Uint8Array,
    private readonly logger: Logger,
  ) {
    if (key.byteLength !== 32) throw new Error('the responses sealing key must be exactly 32 bytes (AES-256)');
    this.cipherKey = createSecretKey(key);
  }

  seal(x: unknown): string {
    return sealValue(JSON.stringify(x), this.cipherKey, random(12));
  }

  open(sealed: string, agentId: string): Body {
    try {
      return JSON.parse(openSealedValue(sealed, this.key)) as Body;
    } catch (err) {
      // The key beside the database was replaced (or a row altered): the state cannot be read back.
      this.logger.error({ err, agentId }, 'a stored response or conversation does not open with this key');
      throw new GatewayError('upstream', 'A stored response could not be read back (its sealing key beside the state file has changed). Send the whole conversation in input instead.', false);
    }
  }
}
