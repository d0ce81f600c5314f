import { Door, here, inside, skip } from '../core/stages.js';

/**
 * The tool proxy's door (src/core/stages.ts): every call an agent (or an admin) makes to a
 * configured HTTP service through `/tools/<service>/…`.
 */
export const TOOL_PROXY = new Door('tool proxy (/tools/<service>/…)', {
  auth: here('an agent’s own token (of an agent this iron-cage knows whose run has not ended), or an admin’s, whose call is no agent’s: not paused, not put to the policies; a viewer’s 403, none 401'),
  pause: here('an agent’s call waits while it is paused, its body read meanwhile so a hang-up is seen'),
  read: here(
    'the path parsed (400 invalid_path: dot segments, //, an absolute URL, @, control characters), the service configured (404, an unauthorized action), TRACE and CONNECT refused (405), the URL built kept under the base, the body within 5 MB (413)',
  ),
  allow: skip('a service is reached only as configured (read refuses any other, an unauthorized action); which of its paths and methods an agent may call is `policies:`’s to say'),
  pii: skip('what the agent sends a service crosses as sent (docs/tools.md, What crosses): its body is the API call the agent makes; the rules read it (policy), and what comes back is scanned'),
  injection: skip('what the agent sends goes to a service, not to a model: the service’s answer is read for injection'),
  policy: here('an agent’s call, read as its upstream would read it (path, method, query, body): allowed, denied, rated, or held for a person, never sent meanwhile'),
  budget: skip('a tool service has no price in the config: only LLM calls and priced MCP tools are charged'),
  send: here('a fault plan’s, else the live service through its breaker (idempotent methods retried), else the cache, else the placeholder'),
  size: inside('send', 'a live answer over 16 MB refused (502), never cached'),
  'answer.allow': skip('an HTTP answer lists no tools a rule could leave out'),
  scrub: inside('send', 'a live answer’s headers and body scrubbed of the credentials the call carried, before it is cached or delivered'),
  'answer.pii': inside('send', 'a live answer’s headers and body (JSON value by value, NDJSON, text) before it is cached; a coding that cannot be read refused where PII is redacted or blocked'),
  'answer.injection': inside('send', 'a live answer, and a cached one again (stored under the mode of its day); block refuses it'),
  'answer.policy': skip('an HTTP answer holds no tool calls the agent runs: those in a model’s answer are put to the policies at the LLM door'),
  record: here('a tool_calls row once the service is known, whatever became of the call; a refusal before that (an unknown service, a bad path) a tool.refused event'),
  observe: here('metrics, traces, the watch and the budget’s step marks told of the call'),
});
