import { Door, here, inside, skip } from '../core/stages.js';

// The LLM gateway's doors (src/core/stages.ts): its metered calls on every wire (the Responses
// socket's calls too: each is an HTTP call through the same handler), and its other surfaces.

const SAME_AUTH = 'the agent’s own token (Bearer or x-api-key), of an agent this iron-cage knows whose run has not ended; its budget account made on first sight';
const NO_ALLOW_LIST = 'a model is sent only to a provider the config routes it to (read refuses any other): there is no allow-list by name to apply';
const NO_TOOL_LIST = 'an answer of a model lists no tools or resources an allow-list names';

/** A metered call: chat/completions, completions, embeddings, responses and messages. */
export const LLM_CALL = new Door('LLM call (every metered wire, HTTP and the Responses socket)', {
  auth: here(SAME_AUTH),
  pause: here('a paused agent’s call waits before its body is parsed, the body read meanwhile so a hang-up is seen; past watch.gate’s bounds, 503'),
  read: here(
    'the body within max_request_mb and JSON to a bounded depth, validated by its wire (the 400 the provider would give), a model name holding PII refused, the model routed to its provider, a Responses request’s stored state expanded into it',
  ),
  allow: skip(NO_ALLOW_LIST),
  pii: here('the prompt as it will be sent (messages, tool calls and results, instructions) redacted or refused, where safety.locations.prompt says so (off unless redact_prompts)'),
  injection: here('the tool results the agent hands its model (and the user’s messages, where asked) read for injection; block refuses the call before anything is reserved'),
  policy: skip('a request to a model acts on nothing itself: the tool calls in its answer are put to the policies (answer.policy)'),
  budget: here('its worst case priced and reserved, waiting first come first served for calls in flight (402, 429); near_limit: clamp lowers its output limit'),
  send: here('through the provider’s breaker, with retries and model_fallbacks; the answer delivered whole, or relayed event by event'),
  size: inside('send', 'a whole answer over 64 MB refused, never read on; a stream relayed as it comes'),
  'answer.allow': skip(NO_TOOL_LIST),
  scrub: inside('send', 'the provider’s own credentials taken out of the answer, its headers and its error bodies'),
  'answer.pii': inside('send', 'every output text and tool call’s arguments, whole or event by event, per safety.locations; a provider’s error body redacted'),
  'answer.injection': skip('a model’s answer is what the agent asked its model for, not text from outside: what it reads from a tool is read when the agent hands it back (injection)'),
  'answer.policy': inside('send', 'the tool calls in the answer put to the rules naming match.llm_tool, a stream’s held back until decided'),
  record: here('its ledger row: settled inside send, on disk before the answer’s end; a call that failed after its reservation released and recorded here'),
  observe: here('metrics, traces and the watch told of the call once its answer is on its way'),
});

/** What the SDKs call besides metered calls: the model list, token counts, stored responses, conversations (and batches, refused). */
export const LLM_SURFACE = new Door('LLM gateway’s other surfaces (models, count_tokens, stored responses, conversations, batches)', {
  auth: here(SAME_AUTH),
  pause: skip('nothing here is spent or acted on: a model list, a token count, the agent’s own stored responses and conversations; a paused agent’s client may still read them'),
  read: inside('send', 'each surface reads and validates its own: a count’s body as the Messages wire would, a conversation’s items and metadata as OpenAI’s'),
  allow: skip(NO_ALLOW_LIST),
  pii: inside('send', 'a token count, where prompts are guarded, is counted by the cage itself: the prompt never leaves; a stored item is guarded when a call sends it'),
  injection: skip('nothing here reaches a model: a stored item is read for injection when a call hands it to one'),
  policy: skip('nothing here is a tool call, nor asks for one'),
  budget: skip('free and unmetered, as at the providers; what an agent keeps stored is bounded by its quota'),
  send: here(
    'a model list or a count from the provider (or the cage’s own), stored responses and conversations from the agent’s own sealed state; batches refused (404): a batch runs later, outside every guard',
  ),
  size: inside('send', 'a provider’s answer read to 1 MB; stored state within the agent’s quota'),
  'answer.allow': skip(NO_TOOL_LIST),
  scrub: inside('send', 'the provider’s credentials taken out of a model list or a count'),
  'answer.pii': skip('a model list and a count carry nobody’s text; a stored item is the agent’s own, given back to it as it was kept'),
  'answer.injection': skip('nothing here reaches a model: a stored item is read for injection when a call hands it to one'),
  'answer.policy': skip('nothing here holds tool calls the agent runs'),
  record: skip('no ledger row: nothing is charged; what is kept is the agent’s own state, sealed, bounded by its quota'),
  observe: skip('metrics and traces count LLM calls: these are none'),
});
