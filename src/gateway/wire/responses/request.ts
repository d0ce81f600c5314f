import { emptyPrompt, type OutputAsk, type PromptMessage, type PromptParts } from '../../../core/prompt.js';
import { contentParts, inputInto, isObject, outputAsk, roleOf, str, textCall, textAt, toolsInto, withLimit, type Body } from '../prompt.js';

// The Responses API's requests: their prompt and what they ask of the output.

/**
 * An input item: a message, a function or custom tool call the model made (a custom tool's
 * `input` is its free text), a tool's output (any item with an `output`), or another item the
 * model produced (reasoning, a built-in tool's call), which is shown as an item with its name.
 */
function item(it: Body): PromptMessage {
  const isCustom = it.type === 'custom_tool_call';
  const isCall = it.type === 'function_call' || isCustom;
  const isOutput = 'output' in it;
  const role = isCall ? 'assistant' : isOutput ? 'tool' : it.type === undefined || it.type === 'message' ? roleOf(it.role) : 'assistant';
  const msg: PromptMessage = { role, parts: contentParts(it, 'content') };
  if (typeof it.role === 'string') msg.label = it.role;
  if (typeof it.name === 'string' && !isCall) msg.name = it.name;
  if (isCall) msg.parts.push(textCall(it.call_id, it, isCustom ? 'input' : 'arguments'));
  if (isOutput) {
    msg.callId = str(it.call_id);
    const out = it.output;
    if (typeof out === 'string') msg.parts.push(textAt(it, 'output'));
    // Parts (text, images, files): shown as JSON, the texts in them still the agent's.
    else if (Array.isArray(out) || (isObject(out) && it.type === 'function_call_output')) msg.parts.push({ type: 'other', value: out, parts: contentParts(it, 'output') });
  }
  return msg;
}

/** Function tools are the agent's; custom and built-in tools (web search, file search) are not answered as function calls. */
const tool = (t: Body) => ({ fn: t, parameters: t.parameters, callable: t.type === 'function' });

/**
 * The prompt of a Responses request: `instructions`, `input` (a string or items), `tools`, the
 * schema of `text.format`.
 *
 * @example
 *   responsesPrompt({ instructions: 'Be terse.', input: 'hi' }).input // [{ type: 'text', text: 'hi', set }]
 */
export function responsesPrompt(b: Body): PromptParts {
  const p = emptyPrompt();
  if (b.instructions !== undefined && b.instructions !== null) p.instructions = { parts: contentParts(b, 'instructions'), framed: false };
  inputInto(p, b, 'input', item);
  toolsInto(p, b.tools, tool);
  const schema = isObject(b.text) && isObject(b.text.format) ? b.text.format.schema : undefined;
  if (schema !== undefined && schema !== null) p.shown.push(schema);
  return p;
}

/** @example responsesOutput({ max_output_tokens: 700 }) // { limit: 700, choices: 1, thinking: 0 } */
export function responsesOutput(b: Body): OutputAsk {
  return outputAsk(b, ['max_output_tokens']);
}

/** @example responsesLimitOutput({ model: 'gpt-4o' }, 300) // { model: 'gpt-4o', max_output_tokens: 300 } */
export function responsesLimitOutput(b: Body, perChoice: number): Body {
  return withLimit(b, ['max_output_tokens'], perChoice);
}
