import { before, Door, here, inside, skip } from '../core/stages.js';

// MCP's doors (src/core/stages.ts): the endpoint each HTTP request of an agent's session passes,
// then one door per class of message it carries, each method's class named by its row in
// AGENT_REQUESTS (session.ts). A method is relayed only through one of these, so a new method gets
// every guard of its class; a new class must say what it does with every guard.

const NO_TOOL_CALLS = 'an MCP answer holds no tool calls the agent runs: those in a model’s answer are put to the policies at the LLM door';
const NO_PRICE = 'only a tools/call has a price (cost_per_call_usd, tools.cost_usd); anything else is free to the budget';
const TO_A_SERVER = 'what the agent sends goes to a server, not to a model: what the server answers is read for injection';

/** `/mcp/<server>`: every HTTP request of an agent's session (POST a message or a batch, GET the server's stream, DELETE the session). */
export const MCP_ENDPOINT = new Door('MCP endpoint (/mcp/<server>)', {
  auth: here('an agent’s own token, of an agent this iron-cage knows whose run has not ended: 401 or 403 as a JSON-RPC error'),
  pause: here('a POST (every request and notification of the agent) waits while its agent is paused; GET (the server’s stream) and DELETE do not'),
  read: here(
    'the server the path names configured (404, after auth: the names are for agents), POST, GET or DELETE (405), a POST’s body JSON within 4 MB (-32700), a session that is this agent’s with this server (404)',
  ),
  allow: skip('what passes by name is each message’s: its method’s door refuses what the server did not declare or the rules refuse'),
  pii: skip('each message’s params are scanned by its method’s door'),
  injection: skip(TO_A_SERVER),
  policy: skip('put to the policies per message: the tools/call and read doors'),
  budget: skip('charged per message: the tools/call door, at the tool’s price'),
  send: here(
    'each message to its session and its method’s door; an initialize opens a session (8 per agent and server, 128 in all) connected to the real server, not through its breaker: a connection refused is the agent’s answer at once',
  ),
  size: skip('each method’s door bounds its result (max_result_mb)'),
  'answer.allow': skip('left to each method’s door (tools/list hides the tools the rules refuse)'),
  scrub: inside('send', 'an initialize’s answer (the server’s title, instructions and capabilities) as the session opens; every other answer by its method’s door'),
  'answer.pii': inside('send', 'an initialize’s answer, each string as it is scrubbed; block withholds it'),
  'answer.injection': inside('send', 'an initialize’s answer, as what a server says to the model by design: flagged by signals only'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: skip('each tools/call is a row (its door); a method or notification the cage does not pass on is an mcp.request event'),
  observe: skip('the tools/call door tells metrics and traces; the HTTP requests that carry messages are no calls'),
});

const CLEANED = 'every string of the answer (an error’s message and data too) scrubbed of the credentials the cage sent this server, then scanned for PII';

/** tools/call: a tool the agent runs on the server. */
export const MCP_TOOLS_CALL = new Door('MCP tools/call', {
  auth: before(MCP_ENDPOINT),
  pause: before(MCP_ENDPOINT),
  read: here('its params as the SDK’s schema defines them (InvalidParams), only those relayed; its row begun'),
  allow: here('refused unless the server declared tools and tools.allow/deny let the tool through (names folded as the policies fold them): a refused row and a tool.refused event'),
  pii: here('its arguments (and the tool’s name) scanned as tool_arguments; block refuses it, never sent'),
  injection: skip(TO_A_SERVER),
  policy: here('the call as it would be sent: allowed, denied, rated, or held for a person, never sent meanwhile'),
  budget: here('its price held before it leaves, as an LLM call’s worst case is; charged once sent, given back if the server was not reached'),
  send: here('through the server’s breaker within timeout_s; the agent’s cancellation passed on (its reason scanned), progress relayed back cleaned'),
  size: here('a result over max_result_mb refused, not passed on'),
  'answer.allow': skip('a tool’s result lists nothing the rules name: the call itself passed allow'),
  scrub: here(CLEANED),
  'answer.pii': inside('scrub', 'each string as it is scrubbed (tool_response); block withholds the result'),
  'answer.injection': inside('scrub', 'the cleaned result read whole; block refuses it'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: here('a tool_calls row and an mcp.call event, whatever became of the call (a refusal, an error, the tool’s own isError)'),
  observe: inside('record', 'the recorder tells metrics, traces and the watch once the row is written'),
});

/** tools/list: the tools the server offers. */
export const MCP_TOOLS_LIST = new Door('MCP tools/list', {
  auth: before(MCP_ENDPOINT),
  pause: before(MCP_ENDPOINT),
  read: here('its params as the SDK’s schema defines them (InvalidParams)'),
  allow: here('refused unless the server declared tools, and said (mcp.request)'),
  pii: here('its params (a cursor) scanned as tool_arguments'),
  injection: skip(TO_A_SERVER),
  policy: skip('a listing acts on nothing: each tool it offers is put to the policies when it is called'),
  budget: skip(NO_PRICE),
  send: here('through the server’s breaker within timeout_s'),
  size: here('a result over max_result_mb refused, not passed on'),
  'answer.allow': here('the tools tools.allow/deny refuse left out of the list'),
  scrub: here(`${CLEANED}: the tools' descriptions and schemas too`),
  'answer.pii': inside('scrub', 'each string as it is scrubbed (tool_response); block withholds the list'),
  'answer.injection': inside('scrub', 'read as what a server says to the model by design: flagged by signals only (tool poisoning among them)'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: here('the tools it offered, kept page by page for GET /api/mcp/servers and the dashboard; no row: a listing is no tool call'),
  observe: skip('metrics and traces count tool calls: a listing is none'),
});

/** What the agent reads or asks of a server that is not a tool: resources/read, prompts/get, completion/complete. */
export const MCP_READ = new Door('MCP resources/read, prompts/get, completion/complete', {
  auth: before(MCP_ENDPOINT),
  pause: before(MCP_ENDPOINT),
  read: here('its params as the SDK’s schema defines them (InvalidParams), only those relayed'),
  allow: here('refused unless the server declared the method’s capability, and said (mcp.request)'),
  pii: here('its params (a resource’s URI, a prompt’s arguments, a completion’s value) scanned as tool_arguments; block refuses it, never sent'),
  injection: skip(TO_A_SERVER),
  policy: here(
    'the request as it would be sent, named `<server>:<uri>` (match.mcp_resource; a completion of a resource template’s argument too) or `<server>.<prompt>` (match.mcp_prompt; a completion of its argument too), never as a tool: allowed, denied, rated, or held for a person, never sent meanwhile',
  ),
  budget: skip(NO_PRICE),
  send: here('through the server’s breaker within timeout_s'),
  size: here('a result over max_result_mb refused, not passed on'),
  'answer.allow': skip('the config’s allow-lists name tools only; what the policies refuse was never asked'),
  scrub: here(CLEANED),
  'answer.pii': inside('scrub', 'each string as it is scrubbed (tool_response); block withholds the answer'),
  'answer.injection': inside('scrub', 'a resource and a completion read as untrusted text; a prompt as what a server says to the model by design (signals only)'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: skip('no row: a read or a prompt is no tool call, which the tool tables and metrics count; a policy decision is its event (policy.decision), each PII finding is audited'),
  observe: skip('metrics and traces count tool calls: these are none'),
});

/** The other methods the cage relays: the listings of resources and prompts, subscriptions, logging/setLevel. */
export const MCP_RELAYED = new Door('MCP resources/list, resources/templates/list, resources/(un)subscribe, prompts/list, logging/setLevel', {
  auth: before(MCP_ENDPOINT),
  pause: before(MCP_ENDPOINT),
  read: here('its params as the SDK’s schema defines them (InvalidParams), only those relayed'),
  allow: here('refused unless the server declared the method’s capability (resources/subscribe: its subscribe flag too), and said (mcp.request)'),
  pii: here('its params (a cursor, a subscription’s URI, a level) scanned as tool_arguments; block refuses it, never sent'),
  injection: skip(TO_A_SERVER),
  policy: skip('a listing, a subscription or a log level reads and runs nothing: each resource or prompt is put to the policies when it is read or got (MCP_READ)'),
  budget: skip(NO_PRICE),
  send: here('through the server’s breaker within timeout_s'),
  size: here('a result over max_result_mb refused, not passed on'),
  'answer.allow': skip('the config’s allow-lists name tools only: a server’s resources and prompts are its own to list'),
  scrub: here(CLEANED),
  'answer.pii': inside('scrub', 'each string as it is scrubbed (tool_response); block withholds the answer'),
  'answer.injection': inside('scrub', 'a list as what a server says to the model by design (signals only)'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: skip('no row: a listing or a subscription is no tool call, which the tool tables and metrics count; each PII finding is audited'),
  observe: skip('metrics and traces count tool calls: these are none'),
});

/** A notification of the agent's that the cage passes on (initialized, cancelled and progress are the SDK's, below the doors). */
export const MCP_NOTIFICATION = new Door('MCP notification of the agent', {
  auth: before(MCP_ENDPOINT),
  pause: before(MCP_ENDPOINT),
  read: skip('a notification has no answer and no schema of the cage’s to check: what it carries is scanned (pii)'),
  allow: here('only one the cage knows (AGENT_NOTIFICATIONS) passes; any other is dropped and said (mcp.request)'),
  pii: here('its params scanned as tool_arguments; block drops it'),
  injection: skip(TO_A_SERVER),
  policy: skip('a notification asks nothing of the server: no tool runs'),
  budget: skip(NO_PRICE),
  send: here('as a notification of the cage’s client; not through the breaker: it has no answer to judge the server by'),
  size: skip('a notification has no answer to bound'),
  'answer.allow': skip('a notification has no answer to filter'),
  scrub: skip('a notification has no answer to scrub'),
  'answer.pii': skip('a notification has no answer to scan'),
  'answer.injection': skip('a notification has no answer to read'),
  'answer.policy': skip(NO_TOOL_CALLS),
  record: skip('a notification passed on is no call; one dropped is said (mcp.request)'),
  observe: skip('metrics and traces count tool calls: a notification is none'),
});

/** Every MCP door, for the listing (test/unit/doors.test.ts) and the docs. */
export const MCP_DOORS = [MCP_ENDPOINT, MCP_TOOLS_CALL, MCP_TOOLS_LIST, MCP_READ, MCP_RELAYED, MCP_NOTIFICATION] as const;
