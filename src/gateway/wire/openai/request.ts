import { emptyPrompt, type OutputAsk, type PromptMessage, type PromptParts } from '../../../core/prompt.js';
import { contentParts, inputInto, isObject, outputAsk, roleOf, str, textCall, toolsInto, withLimit, type Body } from '../prompt.js';
import type { Endpoint } from '../types.js';

// OpenAI's chat completions, legacy completions and embeddings requests: their prompt and what
// they ask of the output.

/** A chat message, or a message item given where a completions prompt or embeddings input goes. */
function message(m: Body): PromptMessage {
  const msg: PromptMessage = { role: roleOf(m.role), parts: contentParts(m, 'content') };
  if (typeof m.role === 'string') msg.label = m.role;
  if (typeof m.name === 'string') msg.name = m.name;
  if (msg.role === 'tool') msg.callId = str(m.tool_call_id);
  if (isObject(m.function_call)) msg.parts.push(textCall('', m.function_call));
  if (Array.isArray(m.tool_calls)) for (const c of m.tool_calls) if (isObject(c)) msg.parts.push(textCall(c.id, isObject(c.function) ? c.function : c));
  return msg;
}

const chatTool = (t: Body) => {
  const fn = isObject(t.function) ? t.function : t;
  return { fn, parameters: fn.parameters, callable: fn !== t };
};
/** The deprecated `functions`: shown to the model like tools, answered with `function_call`. */
const legacyFunction = (t: Body) => ({ fn: t, parameters: t.parameters, callable: false });

/**
 * The prompt of a chat (`messages`, `tools`, `functions`, a response schema), completions
 * (`prompt`) or embeddings (`input`) request.
 *
 * @example
 *   openaiPrompt('chat', { messages: [{ role: 'user', content: 'hi' }] }).messages // [{ role: 'user', label: 'user', parts: [{ type: 'text', text: 'hi', set }] }]
 */
export function openaiPrompt(endpoint: Endpoint, b: Body): PromptParts {
  const p = emptyPrompt();
  if (endpoint === 'completions') inputInto(p, b, 'prompt', message);
  else if (endpoint === 'embeddings') inputInto(p, b, 'input', message);
  else {
    if (Array.isArray(b.messages)) for (const m of b.messages) if (isObject(m)) p.messages.push(message(m));
    toolsInto(p, b.tools, chatTool);
    toolsInto(p, b.functions, legacyFunction);
    const schema = isObject(b.response_format) ? b.response_format.json_schema : undefined;
    if (schema !== undefined && schema !== null) p.shown.push(schema);
  }
  return p;
}

/**
 * Output limits in the order they are read. Chat's `max_completion_tokens` covers o-series
 * reasoning tokens and is the only one current models accept, so a limit we add is that one.
 */
const LIMITS: Partial<Record<Endpoint, readonly string[]>> = { chat: ['max_completion_tokens', 'max_tokens'], completions: ['max_tokens'] };
const CHOICES: Partial<Record<Endpoint, readonly string[]>> = { chat: ['n'], completions: ['n', 'best_of'] };

/** @example openaiOutput('completions', { max_tokens: 100, best_of: 4, n: 2 }) // { limit: 100, choices: 4, thinking: 0 } */
export function openaiOutput(endpoint: Endpoint, b: Body): OutputAsk {
  return outputAsk(b, LIMITS[endpoint] ?? [], CHOICES[endpoint] ?? []);
}

/** @example openaiLimitOutput('chat', { model: 'gpt-4o' }, 300) // { model: 'gpt-4o', max_completion_tokens: 300 } */
export function openaiLimitOutput(endpoint: Endpoint, b: Body, perChoice: number): Body {
  return withLimit(b, LIMITS[endpoint] ?? [], perChoice);
}
