import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import { sendJson } from '../server/index.js';
import type { ConversationAppend, ResponseRow, ResponsesStore, StoredResponseInput, Tx } from '../state/index.js';
import type { Bill, Call, Turn } from './call.js';
import type { Conversations } from './conversations.js';
import { GatewayError } from './errors.js';
import { type Body, Expansion, type ExpansionLimits, inputItems, isObject, listAnswer, listed, newItemId, pageOf, type SealedJson, type StoredQuota, asStored } from './stored-items.js';

// The Responses API's stored state, for every provider: what `store: true` keeps (per agent,
// sealed at rest, for `responses.retention_days`), resolved into the full `input` before the
// prompt guard, the budget and the provider see a request, and served back by
// GET/DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items as OpenAI serves them.

/** The longest chain of previous responses followed: far beyond any conversation, a bound on a loop over stored rows. */
const MAX_CHAIN = 10_000;
/** How often expired responses are purged while running (also at start). */
const PURGE_EVERY_MS = 3600 * 1000;

/** The sealing key of stored responses, derived from the secret kept beside the database for sealing (its own purpose, its own key). */
export function responsesKey(secret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), 'iron-cage responses seal v1', 32));
}

/**
 * A turn kept whole (`store: true`, no conversation) is sealed once: its response row holds
 * `{ [TURN]: { response, input } }` and each item row only `@<index>` into the turn's items: its
 * input items, then its output items, which are the response's own `output` (sealed once, not
 * twice). Turns kept whole before hold `{ [TURN]: { response, items } }`, the output items
 * repeated; rows older still (and turns with a conversation, whose items are also the
 * conversation's and sealed each on its own) hold the response itself and each item sealed: all
 * read. A sealed value starts `v1.`, so `@` is never one.
 */
const TURN = '$turn';
const REF = '@';
type SealedTurn = { response: Body; items: Body[] };

/** A response's output items, as a turn's items list them (after its input). */
const outputItems = (response: Body): Body[] => (Array.isArray(response.output) ? (response.output.filter(isObject) as Body[]) : []);

const notFound = (id: string) => new GatewayError('not_found', `Response with id '${id}' not found.`, false);

export interface ResponsesStateDeps {
  store: ResponsesStore;
  /** Stored bodies sealed under responsesKey. */
  sealed: SealedJson;
  /** A request's `conversation`: its items are the turn's context, the turn is appended to it. */
  conversations: Conversations;
  retentionMs: number;
  /** What one request may expand stored state to. */
  limits: ExpansionLimits;
  /** What one agent may keep stored. */
  quota: StoredQuota;
  logger: Logger;
}

/** An `item_reference` found and sized, not yet opened. */
interface Referred {
  bytes: number;
  open: () => Body;
}

/** An answered turn to write with the call's ledger row: the response kept (`store: true`) and what its conversation gains. */
export interface KeptTurn {
  response: StoredResponseInput | null;
  conversation: ConversationAppend | null;
}

/** A request's `conversation` (an id, or an object with one) as its id, or null. */
const conversationOf = (c: unknown): string | null => (typeof c === 'string' ? c : isObject(c) && typeof c.id === 'string' ? c.id : null);

/**
 * Stored responses for the gateway: `resolve` expands a request's references, `keep` prepares
 * an answered turn for the call's own ledger transaction, `serve` answers the stored-response
 * routes. An agent reaches only its own responses; an expired one is as good as unknown.
 */
export class ResponsesState {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly d: ResponsesStateDeps) {
    this.purge();
    this.timer = setInterval(() => this.purge(), PURGE_EVERY_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Drop what has expired, responses and conversations; a failure is logged (the rows stay unserved, expired, until the next try). */
  purge(now = Date.now()): number {
    let n = this.d.conversations.purge(now);
    try {
      n += this.d.store.purgeExpired(now);
    } catch (err) {
      this.d.logger.error({ err }, 'could not purge expired stored responses');
    }
    return n;
  }

  // ── resolution ───────────────────────────────────────────────────────────────────────

  /**
   * The request as the provider must get it: `previous_response_id` replaced by the chain's
   * items (each stored response's input, then its output, oldest first) before the agent's
   * input, `conversation` by the conversation's items, and each `item_reference` by the stored item. The body is returned as it was when
   * it refers to nothing. Unknown (or another agent's, or expired) ids are OpenAI's 404s.
   * @example state.resolve('a1', { model: 'gpt-4o', input: 'and then?', previous_response_id: 'resp_1' }).json.input // [...turn 1's items, { role: 'user', content: 'and then?' }]
   */
  resolve(agentId: string, body: Body, now = Date.now()): { json: Body; turn: Turn } {
    const previousId = typeof body.previous_response_id === 'string' ? body.previous_response_id : null;
    const conversationId = conversationOf(body.conversation);
    const store = body.store !== false;
    // A turn to be kept (or appended to a conversation) is refused before it is sent when the
    // agent's stored state has no room for its input and the response (at least one item each).
    if (store || conversationId !== null) this.d.quota.check(agentId, asStored(body.input), 1 + (Array.isArray(body.input) ? body.input.length : 1));
    const refs = Array.isArray(body.input) ? body.input.filter((it): it is Body => isObject(it) && it.type === 'item_reference') : [];
    if (previousId === null && conversationId === null && refs.length === 0) return { json: body, turn: { store, previousId, conversationId, contextCount: 0 } };
    // Everything the request refers to is found and sized first, opened only once all of it is
    // within the limits: the references, then the chain or the conversation.
    const expansion = new Expansion(this.d.limits);
    expansion.references(refs.length);
    const referred = this.referredAll(agentId, refs, expansion, now);
    // The wire refused both at once (OpenAI's 400): at most one of them is set.
    const context = previousId !== null ? this.chain(agentId, previousId, expansion, now) : conversationId !== null ? this.d.conversations.context(agentId, conversationId, now, expansion) : [];
    const turn: Turn = { store, previousId, conversationId, contextCount: context.length };
    const own = typeof body.input === 'string' ? inputItems(body.input) : (body.input as unknown[]).map((it) => (isObject(it) && it.type === 'item_reference' ? referred.get(it.id)!() : it));
    const { previous_response_id: _, conversation: __, ...rest } = body;
    return { json: { ...rest, input: [...context, ...own] }, turn };
  }

  /**
   * Each `item_reference` found (read once however often it repeats) and counted each time it
   * repeats; answers an opener per id, each opening its item once.
   */
  referredAll(agentId: string, refs: Body[], expansion: Expansion, now: number): Map<unknown, () => Body> {
    const found = new Map<unknown, Referred>();
    for (const ref of refs) {
      let r = found.get(ref.id);
      if (r === undefined) found.set(ref.id, (r = this.referred(agentId, ref.id, now)));
      expansion.add(r.bytes);
    }
    const openers = new Map<unknown, () => Body>();
    for (const [id, r] of found) {
      let body: Body | undefined;
      openers.set(id, () => (body ??= r.open()));
    }
    return openers;
  }

  /** The items of the chain ending at `id`, oldest turn first, sized into `expansion` before any is opened. */
  private chain(agentId: string, id: string, expansion: Expansion, now: number): Body[] {
    const ids: string[] = [];
    const kept = new Map<string, ResponseRow>();
    // A chain that comes back to a response already read (rows left by a deleted turn whose id an
    // upstream gave again) is read once: each turn's items go upstream, and are billed, once.
    for (let next: string | null = id; next !== null && ids.length < MAX_CHAIN && !kept.has(next); ) {
      const r = this.d.store.get(agentId, next, now);
      if (!r) {
        // OpenAI's answer to a previous response it does not have (or no longer has).
        throw new GatewayError('not_found', `Previous response with id '${next}' not found.`, false);
      }
      ids.unshift(r.id);
      kept.set(r.id, r);
      next = r.previousResponseId;
    }
    const order = new Map(ids.map((x, i) => [x, i]));
    const rows = this.d.store.itemsOf(agentId, ids);
    // Each turn's input, then its output; turns in chain order (rows come in the order they were kept).
    rows.sort((a, b) => order.get(a.responseId)! - order.get(b.responseId)! || (a.kind === b.kind ? a.seq - b.seq : a.kind === 'input' ? -1 : 1));
    // Its size as stored: an item sealed on its own, or the turn sealed whole that holds it (once a turn).
    let sealed = 0;
    const whole = new Set<string>();
    for (const row of rows) {
      if (!row.body.startsWith(REF)) sealed += row.body.length;
      else if (!whole.has(row.responseId)) {
        whole.add(row.responseId);
        sealed += kept.get(row.responseId)?.body.length ?? 0;
      }
    }
    expansion.add(sealed);
    const turns = new Map<string, SealedTurn | null>();
    return rows.map((row) => this.itemBody(row, agentId, (rid) => kept.get(rid) ?? null, turns));
  }

  /** A stored response row opened: its response, and the turn's items when it was sealed whole. */
  private opened(r: ResponseRow): SealedTurn | { response: Body; items: null } {
    const body = this.d.sealed.open(r.body, r.agentId);
    // A kept answer has an id and an output besides: a body of the one key TURN is a turn.
    const turn = body[TURN];
    if (isObject(turn) && Object.keys(body).length === 1 && isObject(turn.response)) {
      if (Array.isArray(turn.input)) return { response: turn.response, items: [...(turn.input.filter(isObject) as Body[]), ...outputItems(turn.response)] };
      if (Array.isArray(turn.items)) return turn as SealedTurn;
    }
    return { response: body, items: null };
  }

  /**
   * An item row's body: sealed on its own, or (`@<index>`) one of the items of its turn, sealed
   * whole in its response row (found by `responseOf`, opened once per response through `turns`).
   */
  private itemBody(row: { responseId: string; body: string }, agentId: string, responseOf: (id: string) => ResponseRow | null, turns = new Map<string, SealedTurn | null>()): Body {
    if (!row.body.startsWith(REF)) return this.d.sealed.open(row.body, agentId);
    let turn = turns.get(row.responseId);
    if (turn === undefined) {
      const r = responseOf(row.responseId);
      const o = r ? this.opened(r) : null;
      turns.set(row.responseId, (turn = o?.items ? o : null));
    }
    const item = turn?.items[Number(row.body.slice(REF.length))];
    if (!isObject(item)) {
      this.d.logger.error({ agentId, responseId: row.responseId }, 'a stored item points into a response that does not hold it');
      throw new GatewayError('upstream', 'A stored response could not be read back (its turn is incomplete in the state file). Send the whole conversation in input instead.', false);
    }
    return item;
  }

  /**
   * The item an `item_reference` names, kept with one of the agent's responses or in one of its
   * conversations: its size as stored (the item sealed on its own, or the turn sealed whole that
   * holds it) and how to open it.
   */
  private referred(agentId: string, id: unknown, now: number): Referred {
    const row = typeof id === 'string' ? this.d.store.item(agentId, id, now) : null;
    if (row) {
      if (!row.body.startsWith(REF)) return { bytes: row.body.length, open: () => this.itemBody(row, agentId, () => null) };
      const r = this.d.store.get(agentId, row.responseId, now);
      return { bytes: r?.body.length ?? 0, open: () => this.itemBody(row, agentId, () => r) };
    }
    const inConversation = typeof id === 'string' ? this.d.conversations.item(agentId, id, now) : null;
    if (!inConversation) {
      throw new GatewayError(
        'not_found',
        `Item with id '${String(id)}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
        false,
      );
    }
    return inConversation;
  }

  /** The item an `item_reference` names, counted into `expansion` before it is opened (a batch of conversation items). */
  item(agentId: string, id: unknown, expansion: Expansion, now = Date.now()): Body {
    const r = this.referred(agentId, id, now);
    expansion.add(r.bytes);
    return r.open();
  }

  // ── keeping ──────────────────────────────────────────────────────────────────────────

  /**
   * An answered turn, ready for the call's ledger transaction: the response as the agent was
   * sent it (`answer`, redacted), the turn's own input items (as they went upstream, after the
   * prompt guard) and its output items, each under its id; the usage the call was billed. The
   * same items, under the same ids, are appended to the turn's conversation if it has one
   * (whatever `store` says: the conversation is where the agent asked them kept).
   * Null when nothing is to be kept (`store: false` and no conversation, or an answer that is not a response).
   */
  keep(call: Pick<Call, 'agentId' | 'turn' | 'target'>, answer: unknown, bill: Pick<Bill, 'promptTokens' | 'completionTokens'>, now = Date.now()): KeptTurn | null {
    const turn = call.turn;
    if (!turn || (!turn.store && turn.conversationId === null) || !isObject(answer) || typeof answer.id !== 'string' || !Array.isArray(answer.output)) return null;
    const { agentId } = call;
    const input = inputItems(call.target.json.input).slice(turn.contextCount);
    const bodies = [...input, ...outputItems(answer)];
    // Kept whole (no conversation, which needs each item sealed on its own): one seal for the turn.
    const whole = turn.store && turn.conversationId === null;
    const items = bodies.map((it, k) => ({
      itemId: typeof it.id === 'string' ? it.id : newItemId(it),
      kind: k < input.length ? ('input' as const) : ('output' as const),
      body: whole ? `${REF}${k}` : this.d.sealed.seal(it),
    }));
    const conversation =
      turn.conversationId === null
        ? null
        : this.d.conversations.appendOf(
            agentId,
            turn.conversationId,
            items.map(({ itemId, body }) => ({ itemId, body })),
            now,
          );
    if (!turn.store) return { response: null, conversation };
    const response: StoredResponseInput = {
      response: {
        id: answer.id,
        agentId,
        model: call.target.model,
        previousResponseId: turn.previousId,
        inputTokens: bill.promptTokens,
        outputTokens: bill.completionTokens,
        body: this.d.sealed.seal(
          whole
            ? { [TURN]: { response: { ...answer, previous_response_id: turn.previousId }, input } }
            : { ...answer, previous_response_id: turn.previousId, conversation: { id: turn.conversationId } },
        ),
        createdAt: now,
        expiresAt: now + this.d.retentionMs,
      },
      items,
    };
    return { response, conversation };
  }

  /** A kept turn written inside the call's ledger transaction: the response, then what its conversation gains. */
  save(tx: Tx, kept: KeptTurn): void {
    if (kept.response) this.d.store.insert(tx, kept.response);
    if (kept.conversation) this.d.conversations.save(tx, kept.conversation);
  }

  // ── the routes ───────────────────────────────────────────────────────────────────────

  /**
   * `GET /v1/responses/{id}` (the response), `DELETE /v1/responses/{id}`, and
   * `GET /v1/responses/{id}/input_items` (a page of the turn's input: `after`, `limit` 1-100,
   * `order` asc or desc, newest first by default), the agent's own only.
   */
  serve(agentId: string, action: 'get' | 'delete' | 'input_items', id: string, req: IncomingMessage, res: ServerResponse, now = Date.now()): void {
    if (action === 'delete') {
      // An expired response is gone already, whatever the purge has done yet.
      if (!this.d.store.get(agentId, id, now) || !this.d.store.delete(agentId, id)) throw notFound(id);
      return void sendJson(res, 200, { id, object: 'response.deleted', deleted: true });
    }
    const r = this.d.store.get(agentId, id, now);
    if (!r) throw notFound(id);
    if (action === 'get') return void sendJson(res, 200, this.opened(r).response);
    const { page, hasMore } = pageOf(this.d.store.items(agentId, r.id, 'input'), req.url);
    const turns = new Map<string, SealedTurn | null>();
    sendJson(
      res,
      200,
      listAnswer(
        page.map((row) =>
          listed(
            row.itemId,
            this.itemBody(row, agentId, () => r, turns),
          ),
        ),
        hasMore,
      ),
    );
  }
}
