import { emptyPrompt, type OutputAsk, type PromptMessage, type PromptParts } from '../../../core/prompt.js';
import { toCount } from '../../../domain/budget/index.js';
import { contentParts, isObject, outputAsk, toolsInto, withLimit, type Body } from '../prompt.js';

// Anthropic's messages requests (and count_tokens): their prompt and what they ask of the output.

function message(m: Body): PromptMessage {
  const msg: PromptMessage = { role: m.role === 'assistant' ? 'assistant' : 'user', parts: contentParts(m, 'content') };
  if (typeof m.role === 'string') msg.label = m.role;
  return msg;
}

/** Tools with an input schema are the agent's; server tools (web search, code execution) have none: the provider runs them. */
const tool = (t: Body) => ({ fn: t, parameters: t.input_schema, callable: isObject(t.input_schema) });

/**
 * The prompt of a messages request: `system` (shown as a message of its own), `messages` with
 * their blocks (tool_use, tool_result, thinking, images), `tools`.
 *
 * @example
 *   anthropicPrompt({ system: 'Be terse.', messages: [] }).instructions // { parts: [{ type: 'text', text: 'Be terse.', set }], framed: true }
 */
export function anthropicPrompt(b: Body): PromptParts {
  const p = emptyPrompt();
  if (b.system !== undefined && b.system !== null) p.instructions = { parts: contentParts(b, 'system'), framed: true };
  if (Array.isArray(b.messages)) for (const m of b.messages) if (isObject(m)) p.messages.push(message(m));
  toolsInto(p, b.tools, tool);
  return p;
}

/** @example anthropicOutput({ max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } }) // { limit: 4096, choices: 1, thinking: 2048 } */
export function anthropicOutput(b: Body): OutputAsk {
  const thinking = isObject(b.thinking) && b.thinking.type === 'enabled' ? toCount(b.thinking.budget_tokens) : 0;
  return outputAsk(b, ['max_tokens'], [], thinking);
}

/** @example anthropicLimitOutput({ max_tokens: 1024 }, 40) // { max_tokens: 40 } */
export function anthropicLimitOutput(b: Body, perChoice: number): Body {
  return withLimit(b, ['max_tokens'], perChoice);
}
