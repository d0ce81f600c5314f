import { mapJsonStrings } from '../domain/pii/index.js';
import { GatewayError } from './errors.js';
import type { GuardResult, OutputGuard, SlotKind, StreamGuard } from '../pii/index.js';

export type { GuardResult, OutputGuard, SlotKind, StreamGuard };

/**
 * With `safety.redact_prompts`: PII in what the agent sends is replaced in `json` before it
 * leaves; a block verdict refuses the request. Returns whether anything changed (the agent's
 * own bytes can then no longer be sent).
 */
export function guardPrompt(prompt: NonNullable<OutputGuard['prompt']>, agentId: string, ref: string, json: Record<string, unknown>): boolean {
  let changed = false;
  const fix = (text: string, kind?: SlotKind): string => {
    const g = prompt(agentId, ref, text, kind);
    if (g.block) throw new GatewayError('blocked', g.block.replace('this response', 'this request'), false);
    if (g.text !== text) changed = true;
    return g.text;
  };
  const fixContent = (holder: Record<string, unknown>, key: string) => {
    const v = holder[key];
    if (typeof v === 'string') holder[key] = fix(v);
    else if (Array.isArray(v)) {
      v.forEach((part, i) => {
        if (typeof part === 'string') v[i] = fix(part);
        else if (part && typeof part === 'object') fixPart(part as Record<string, any>);
      });
    }
  };
  // Earlier turns repeat tool calls and their results: Anthropic's tool_use and tool_result blocks.
  const fixPart = (part: Record<string, any>) => {
    if (typeof part.text === 'string') part.text = fix(part.text);
    if (part.type === 'tool_use' && part.input && typeof part.input === 'object') part.input = JSON.parse(fix(JSON.stringify(part.input), 'json'));
    if (part.type === 'tool_result') fixContent(part, 'content');
  };
  // OpenAI's: an assistant turn's tool_calls (and the legacy function_call), a tool turn's content.
  const fixCalls = (m: Record<string, any>) => {
    const calls = Array.isArray(m.tool_calls) ? m.tool_calls.map((c: any) => c?.function) : [m.function_call];
    for (const f of calls) if (f && typeof f.arguments === 'string') f.arguments = fix(f.arguments, 'json');
  };
  if (Array.isArray(json.messages)) {
    for (const m of json.messages) {
      if (!m || typeof m !== 'object') continue;
      fixContent(m as Record<string, unknown>, 'content');
      fixCalls(m as Record<string, any>);
    }
  }
  for (const k of ['system', 'prompt', 'input', 'instructions']) if (k in json) fixContent(json, k);
  // Responses API input items: messages carry `content`, tool results `output`.
  if (Array.isArray(json.input)) {
    for (const it of json.input) {
      if (!it || typeof it !== 'object') continue;
      for (const k of ['content', 'output']) if (k in it) fixContent(it as Record<string, unknown>, k);
      if (it.type === 'function_call' && typeof it.arguments === 'string') it.arguments = fix(it.arguments, 'json');
    }
  }
  return changed;
}

/**
 * A provider's JSON error body with every string in it scanned as output (an error can quote
 * the prompt or the answer). Redacted, never refused: it is a refusal already. A body that is not
 * JSON is returned as is: the gateway sends its own wording instead of it.
 * @example guardErrorBody(guard, 'a1', 'chat:gpt-4o', { error: { message: 'bad: bob@example.org' } }, raw).text // '{"error":{"message":"bad: [EMAIL_REDACTED]"}}'
 */
export function guardErrorBody(guard: OutputGuard, agentId: string, ref: string, parsed: unknown, text: string): { parsed: unknown; text: string; stored: unknown; redactions: number } {
  if (parsed === null) return { parsed, text, stored: parsed, redactions: 0 };
  let changed = false;
  let redactions = 0;
  const storedOf = new Map<string, string>();
  const fixed = mapJsonStrings(parsed, (s) => {
    const g = guard.error ? guard.error(agentId, ref, s) : { ...guard.text(agentId, ref, s), stored: undefined };
    redactions += g.redactions;
    storedOf.set(s, g.stored ?? g.text);
    if (g.text !== s) changed = true;
    return g.text;
  });
  const stored = redactions === 0 ? parsed : mapJsonStrings(parsed, (s) => storedOf.get(s) ?? s);
  return changed ? { parsed: fixed, text: JSON.stringify(fixed), stored, redactions } : { parsed, text, stored, redactions };
}
