import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import { sendJson } from '../server/index.js';
import type { ConversationAppend, ConversationRow, ConversationsStore, NewConversationItem, Tx } from '../state/index.js';
import { type ConversationAction, readJsonObject } from './endpoints.js';
import { GatewayError } from './errors.js';
import { type Body, Expansion, type ExpansionLimits, isObject, listAnswer, listed, newItemId, pageOf, type SealedJson, type StoredQuota } from './stored-items.js';
import { inputItemProblem } from './wire/responses/validate.js';

// OpenAI's Conversations API on the cage's own state, for every provider: per agent, sealed at
// rest, kept while in use (each write moves its expiry to `responses.retention_days` ahead).
// `responses.create({ conversation })` reads its items as the context (responses-state.ts) and
// appends the turn's input and output in the call's ledger transaction.

/** How many items one create or add may carry (OpenAI's limit). */
const MAX_ITEMS = 20;
/** OpenAI's metadata limits: 16 pairs, keys up to 64 characters, string values up to 512. */
const METADATA = { pairs: 16, key: 64, value: 512 };

const notFound = (id: string) => new GatewayError('not_found', `Conversation with id '${id}' not found.`, false);
const itemNotFound = (id: string) => new GatewayError('not_found', `Item with id '${id}' not found.`, false);
const invalid = (message: string) => new GatewayError('invalid_request', message, false);

function metadataProblem(m: unknown): string | null {
  if (!isObject(m)) return "Invalid type for 'metadata': expected an object, or null.";
  const entries = Object.entries(m);
  if (entries.length > METADATA.pairs) return `Invalid 'metadata': too many properties. Expected an object with at most ${METADATA.pairs} properties, but got ${entries.length} instead.`;
  for (const [k, v] of entries) {
    if (k.length > METADATA.key) return `Invalid 'metadata': key '${k.slice(0, METADATA.key)}…' is too long. Expected a key of at most ${METADATA.key} characters.`;
    if (typeof v !== 'string') return `Invalid type for 'metadata.${k}': expected a string.`;
    if (v.length > METADATA.value) return `Invalid 'metadata.${k}': string too long. Expected a string with maximum length ${METADATA.value}, but got a string with length ${v.length} instead.`;
  }
  return null;
}

function itemsProblem(items: unknown, required: boolean): string | null {
  if (items === undefined || items === null) return required ? "Missing required parameter: 'items'." : null;
  if (!Array.isArray(items)) return "Invalid type for 'items': expected an array of input items.";
  if (required && items.length === 0) return "Invalid 'items': empty array. Expected an array with minimum length 1.";
  if (items.length > MAX_ITEMS) return `Invalid 'items': array too long. Expected an array with maximum length ${MAX_ITEMS}, but got an array with length ${items.length} instead.`;
  for (let i = 0; i < items.length; i++) {
    const bad = inputItemProblem(items[i], `items[${i}]`);
    if (bad) return bad;
  }
  return null;
}

export interface ConversationsDeps {
  store: ConversationsStore;
  sealed: SealedJson;
  retentionMs: number;
  maxRequestBytes: number;
  logger: Logger;
  /** An `item_reference` among added items, resolved from what the agent's responses and conversations keep. */
  resolveItem: (agentId: string, id: unknown, expansion: Expansion, now: number) => Body;
  /** What one batch of items may expand stored state to (its `item_reference`s). */
  limits: ExpansionLimits;
  /** What one agent may keep stored. */
  quota: StoredQuota;
}

/**
 * Conversations for the gateway: `context` reads a conversation's items for a turn, `appendOf`
 * prepares the turn's items for the call's ledger transaction, `serve` answers the routes.
 * An agent reaches only its own conversations; an expired one is as good as unknown.
 */
export class Conversations {
  constructor(private readonly d: ConversationsDeps) {}

  /** Drop what has expired; a failure is logged (the rows stay unserved, expired, until the next try). */
  purge(now = Date.now()): number {
    try {
      return this.d.store.purgeExpired(now);
    } catch (err) {
      this.d.logger.error({ err }, 'could not purge expired conversations');
      return 0;
    }
  }

  /**
   * The items of the agent's conversation `id`, oldest first: the context of a turn in it,
   * sized into `expansion` before any is opened. Unknown is OpenAI's 404.
   */
  context(agentId: string, id: string, now: number, expansion: Expansion): Body[] {
    const c = this.must(agentId, id, now);
    const rows = this.d.store.items(c.id);
    expansion.add(rows.reduce((n, row) => n + row.body.length, 0));
    return rows.map((row) => this.d.sealed.open(row.body, agentId));
  }

  /** An `item_reference` to an item of one of the agent's conversations: its size as stored and how to open it; null when there is none. */
  item(agentId: string, itemId: string, now = Date.now()): { bytes: number; open: () => Body } | null {
    const row = this.d.store.anyItem(agentId, itemId, now);
    return row ? { bytes: row.body.length, open: () => this.d.sealed.open(row.body, agentId) } : null;
  }

  /** A turn's items appended inside the call's ledger transaction (a conversation deleted meanwhile takes nothing). */
  save(tx: Tx, a: ConversationAppend): void {
    this.d.store.append(tx, a);
  }

  /** A turn's items (ids given, bodies sealed) to append to its conversation with the call's row. */
  appendOf(agentId: string, conversationId: string, items: NewConversationItem[], now = Date.now()): ConversationAppend {
    return { conversationId, agentId, items, now, expiresAt: now + this.d.retentionMs };
  }

  // ── the routes ───────────────────────────────────────────────────────────────────────

  /**
   * The Conversations API's routes, as `client.conversations.*` and `client.conversations.items.*`
   * of openai-node call them; the conversation is looked up before any body is read, so a
   * conversation the agent does not have is a 404 whatever it sent.
   */
  async serve(agentId: string, action: ConversationAction, id: string | null, itemId: string | null, req: IncomingMessage, res: ServerResponse, now = Date.now()): Promise<void> {
    if (action === 'create') return this.create(agentId, req, res, now);
    const c = this.must(agentId, id ?? '', now);
    const expiresAt = now + this.d.retentionMs;
    switch (action) {
      case 'get':
        return void sendJson(res, 200, this.shape(c));
      case 'update': {
        const { json } = await readJsonObject(req, this.d.maxRequestBytes);
        if (!('metadata' in json)) throw invalid("Missing required parameter: 'metadata'.");
        const metadata = json.metadata ?? {};
        const bad = metadataProblem(metadata);
        if (bad) throw invalid(bad);
        const sealed = this.d.sealed.seal(metadata);
        if (!this.d.store.update(agentId, c.id, { metadata: sealed, expiresAt })) throw notFound(c.id);
        return void sendJson(res, 200, this.shape({ ...c, metadata: sealed }));
      }
      case 'delete':
        if (!this.d.store.delete(agentId, c.id)) throw notFound(c.id);
        return void sendJson(res, 200, { id: c.id, object: 'conversation.deleted', deleted: true });
      case 'list_items': {
        const { page, hasMore } = pageOf(this.d.store.items(c.id), req.url);
        return void sendJson(
          res,
          200,
          listAnswer(
            page.map((row) => listed(row.itemId, this.d.sealed.open(row.body, agentId))),
            hasMore,
          ),
        );
      }
      case 'add_items': {
        const { json } = await readJsonObject(req, this.d.maxRequestBytes);
        const bad = itemsProblem(json.items, true);
        if (bad) throw invalid(bad);
        const { rows, shown } = this.newItems(agentId, json.items as unknown[], now);
        this.d.quota.check(agentId, sizeOf(rows), rows.length);
        this.d.store.add(this.appendOf(agentId, c.id, rows, now));
        return void sendJson(res, 200, listAnswer(shown, false));
      }
      case 'get_item': {
        const row = this.d.store.item(c.id, itemId ?? '');
        if (!row) throw itemNotFound(itemId ?? '');
        return void sendJson(res, 200, listed(row.itemId, this.d.sealed.open(row.body, agentId)));
      }
      case 'delete_item':
        if (!this.d.store.deleteItem(c.id, itemId ?? '', expiresAt)) throw itemNotFound(itemId ?? '');
        return void sendJson(res, 200, this.shape(c));
    }
  }

  private async create(agentId: string, req: IncomingMessage, res: ServerResponse, now: number): Promise<void> {
    const { json } = await readJsonObject(req, this.d.maxRequestBytes);
    const bad = itemsProblem(json.items, false) ?? (json.metadata === undefined || json.metadata === null ? null : metadataProblem(json.metadata));
    if (bad) throw invalid(bad);
    const { rows } = this.newItems(agentId, (json.items as unknown[] | undefined) ?? [], now);
    const row: ConversationRow = {
      id: `conv_${randomBytes(24).toString('hex')}`,
      agentId,
      metadata: this.d.sealed.seal(json.metadata ?? {}),
      createdAt: now,
      expiresAt: now + this.d.retentionMs,
    };
    this.d.quota.check(agentId, row.metadata.length + sizeOf(rows), 1 + rows.length);
    this.d.store.create(row, rows);
    sendJson(res, 200, this.shape(row));
  }

  /** Items as added: references resolved, each with its id (its own, or a new one), sealed; and as the answer lists them. */
  private newItems(agentId: string, items: unknown[], now: number): { rows: NewConversationItem[]; shown: Body[] } {
    const rows: NewConversationItem[] = [];
    const shown: Body[] = [];
    const expansion = new Expansion(this.d.limits);
    expansion.references((items as Body[]).filter((it) => it.type === 'item_reference').length);
    for (const raw of items as Body[]) {
      const item = raw.type === 'item_reference' ? this.d.resolveItem(agentId, raw.id, expansion, now) : raw;
      const itemId = typeof item.id === 'string' ? item.id : newItemId(item);
      rows.push({ itemId, body: this.d.sealed.seal(item) });
      shown.push(listed(itemId, item));
    }
    return { rows, shown };
  }

  private must(agentId: string, id: string, now: number): ConversationRow {
    const c = this.d.store.get(agentId, id, now);
    if (!c) throw notFound(id);
    return c;
  }

  private shape(c: ConversationRow): Body {
    return { id: c.id, object: 'conversation', created_at: Math.floor(c.createdAt / 1000), metadata: this.d.sealed.open(c.metadata, c.agentId) };
  }
}

/** The bytes of new items as stored. */
const sizeOf = (rows: readonly NewConversationItem[]) => rows.reduce((n, r) => n + r.body.length, 0);
