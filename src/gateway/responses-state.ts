import { hkdfSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import { openSealedValue, sealValue } from '../domain/pii/index.js';
import { sendJson } from '../server/index.js';
import type { ResponseItemRow, ResponsesStore, StoredResponseInput } from '../state/index.js';
import type { Bill, Call, Turn } from './call.js';
import { GatewayError } from './errors.js';

// The Responses API's stored state, for every provider: what `store: true` keeps (per agent,
// sealed at rest, for `responses.retention_days`), resolved into the full `input` before the
// prompt guard, the budget and the provider see a request, and served back by
// GET/DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items as OpenAI serves them.

type Body = Record<string, unknown>;
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The longest chain of previous responses followed: far beyond any conversation, a bound on a loop over stored rows. */
const MAX_CHAIN = 10_000;
/** How often expired responses are purged while running (also at start). */
const PURGE_EVERY_MS = 3600 * 1000;

/** The sealing key of stored responses, derived from the secret kept beside the database for sealing (its own purpose, its own key). */
export function responsesKey(secret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), 'iron-cage responses seal v1', 32));
}

/** A new item id in OpenAI's form (`msg_…`), for an input item sent without one. */
function newItemId(item: Body): string {
  const prefix = item.type === undefined || item.type === 'message' ? 'msg' : item.type === 'function_call_output' ? 'fco' : 'item';
  return `${prefix}_${randomBytes(16).toString('hex')}`;
}

/** A request's `input` as items: a string is one user message. */
function inputItems(input: unknown): Body[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return Array.isArray(input) ? (input.filter(isObject) as Body[]) : [];
}

/** An item as `input_items` lists it: with its id, and a message's string content as one part. */
function listed(row: ResponseItemRow, item: Body): Body {
  const out: Body = { ...item, id: row.itemId };
  if (out.type === undefined && out.role !== undefined) out.type = 'message';
  if (out.type === 'message' && typeof out.content === 'string') out.content = [{ type: out.role === 'assistant' ? 'output_text' : 'input_text', text: out.content }];
  return out;
}

const notFound = (id: string) => new GatewayError('not_found', `Response with id '${id}' not found.`, false);

/** The events of a Responses stream that carry the response object itself. */
const RESPONSE_EVENT = /"type":\s*"response\.(?:created|in_progress|queued|completed|incomplete|failed)"/;

/**
 * A turn that continued a stored response says which, as OpenAI's answers do: the provider was
 * sent the whole context instead of the id, so its answer says `previous_response_id: null`.
 * Sets it on `response` (a whole answer, or a stream event's `response`); true when it changed.
 * @example continued({ id: 'resp_2', previous_response_id: null }, turn) // true: now 'resp_1'
 */
export function continued(response: unknown, turn: Turn | undefined): boolean {
  if (!turn?.previousId || !isObject(response) || response.previous_response_id === turn.previousId) return false;
  response.previous_response_id = turn.previousId;
  return true;
}

/** A Responses stream event's data with `continued` applied to its response, or null when it needs no change. */
export function continuedEvent(data: string, turn: Turn | undefined): string | null {
  if (!turn?.previousId || !RESPONSE_EVENT.test(data)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  return isObject(json) && continued(json.response, turn) ? JSON.stringify(json) : null;
}

export interface ResponsesStateDeps {
  store: ResponsesStore;
  /** 32 bytes: what stored bodies are sealed with (responsesKey). */
  key: Uint8Array;
  retentionMs: number;
  logger: Logger;
}

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

  /** Drop what has expired; a failure is logged (the rows stay unserved, expired, until the next try). */
  purge(now = Date.now()): number {
    try {
      return this.d.store.purgeExpired(now);
    } catch (err) {
      this.d.logger.error({ err }, 'could not purge expired stored responses');
      return 0;
    }
  }

  // ── resolution ───────────────────────────────────────────────────────────────────────

  /**
   * The request as the provider must get it: `previous_response_id` replaced by the chain's
   * items (each stored response's input, then its output, oldest first) before the agent's
   * input, and each `item_reference` by the stored item. The body is returned as it was when
   * it refers to nothing. Unknown (or another agent's, or expired) ids are OpenAI's 404s.
   * @example state.resolve('a1', { model: 'gpt-4o', input: 'and then?', previous_response_id: 'resp_1' }).json.input // [...turn 1's items, { role: 'user', content: 'and then?' }]
   */
  resolve(agentId: string, body: Body, now = Date.now()): { json: Body; turn: Turn } {
    const previousId = typeof body.previous_response_id === 'string' ? body.previous_response_id : null;
    const store = body.store !== false;
    const context = previousId === null ? [] : this.chain(agentId, previousId, now);
    const refs = Array.isArray(body.input) && body.input.some((it) => isObject(it) && it.type === 'item_reference');
    const turn: Turn = { store, previousId, contextCount: context.length };
    if (previousId === null && !refs) return { json: body, turn };
    const own = typeof body.input === 'string' ? inputItems(body.input) : (body.input as unknown[]).map((it) => (isObject(it) && it.type === 'item_reference' ? this.item(agentId, it.id, now) : it));
    const { previous_response_id: _, ...rest } = body;
    return { json: { ...rest, input: [...context, ...own] }, turn };
  }

  /** The items of the chain ending at `id`, oldest turn first. */
  private chain(agentId: string, id: string, now: number): Body[] {
    const ids: string[] = [];
    for (let next: string | null = id; next !== null && ids.length < MAX_CHAIN; ) {
      const r = this.d.store.get(agentId, next, now);
      if (!r) {
        // OpenAI's answer to a previous response it does not have (or no longer has).
        throw new GatewayError('not_found', `Previous response with id '${next}' not found.`, false);
      }
      ids.unshift(r.id);
      next = r.previousResponseId;
    }
    const order = new Map(ids.map((x, i) => [x, i]));
    const rows = this.d.store.itemsOf(ids);
    // Each turn's input, then its output; turns in chain order (rows come in the order they were kept).
    rows.sort((a, b) => order.get(a.responseId)! - order.get(b.responseId)! || (a.kind === b.kind ? a.seq - b.seq : a.kind === 'input' ? -1 : 1));
    return rows.map((row) => this.open(row.body, agentId));
  }

  private item(agentId: string, id: unknown, now: number): Body {
    const row = typeof id === 'string' ? this.d.store.item(agentId, id, now) : null;
    if (!row) {
      throw new GatewayError(
        'not_found',
        `Item with id '${String(id)}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
        false,
      );
    }
    return this.open(row.body, agentId);
  }

  // ── keeping ──────────────────────────────────────────────────────────────────────────

  /**
   * An answered turn, ready for the call's ledger transaction: the response as the agent was
   * sent it (`answer`, redacted), the turn's own input items (as they went upstream, after the
   * prompt guard) and its output items, each under its id; the usage the call was billed.
   * Null when nothing is to be kept (`store: false`, or an answer that is not a response).
   */
  keep(call: Pick<Call, 'agentId' | 'turn' | 'target'>, answer: unknown, bill: Pick<Bill, 'promptTokens' | 'completionTokens'>, now = Date.now()): StoredResponseInput | null {
    const turn = call.turn;
    if (!turn?.store || !isObject(answer) || typeof answer.id !== 'string' || !Array.isArray(answer.output)) return null;
    const { agentId } = call;
    const seal = (x: unknown) => sealValue(JSON.stringify(x), this.d.key);
    const item = (kind: 'input' | 'output') => (it: Body) => ({ itemId: typeof it.id === 'string' ? it.id : newItemId(it), kind, body: seal(it) });
    const input = inputItems(call.target.json.input).slice(turn.contextCount);
    const output = answer.output.filter(isObject) as Body[];
    return {
      response: {
        id: answer.id,
        agentId,
        model: call.target.model,
        previousResponseId: turn.previousId,
        inputTokens: bill.promptTokens,
        outputTokens: bill.completionTokens,
        body: seal({ ...answer, previous_response_id: turn.previousId }),
        createdAt: now,
        expiresAt: now + this.d.retentionMs,
      },
      items: [...input.map(item('input')), ...output.map(item('output'))],
    };
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
    if (action === 'get') return void sendJson(res, 200, this.open(r.body, agentId));
    const q = new URL(req.url ?? '/', 'http://gateway').searchParams;
    const limit = q.has('limit') ? Number(q.get('limit')) : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('invalid_request', `Invalid 'limit': ${q.get('limit')}. Expected an integer from 1 to 100.`, false);
    const order = q.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_request', `Invalid value for 'order': '${order}'. Supported values are: 'asc' and 'desc'.`, false);
    let rows = this.d.store.items(r.id, 'input');
    if (order === 'desc') rows = rows.reverse();
    const after = q.get('after');
    if (after !== null) {
      const at = rows.findIndex((x) => x.itemId === after);
      if (at < 0) throw new GatewayError('not_found', `Item with id '${after}' not found.`, false);
      rows = rows.slice(at + 1);
    }
    const page = rows.slice(0, limit).map((row) => listed(row, this.open(row.body, agentId)));
    sendJson(res, 200, { object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: rows.length > limit });
  }

  private open(sealed: string, agentId: string): Body {
    try {
      return JSON.parse(openSealedValue(sealed, this.d.key)) as Body;
    } catch (err) {
      // The key beside the database was replaced (or a row altered): the state cannot be read back.
      this.d.logger.error({ err, agentId }, 'a stored response does not open with this key');
      throw new GatewayError('upstream', 'A stored response could not be read back (its sealing key beside the state file has changed). Send the whole conversation in input instead.', false);
    }
  }
}
