import type { PromptPart, PromptParts } from '../core/prompt.js';
import { mapJsonStrings } from '../domain/pii/index.js';
import { GatewayError } from './errors.js';
import type { GuardResult, OutputGuard, SlotKind, StreamGuard } from '../pii/index.js';

export type { GuardResult, OutputGuard, SlotKind, StreamGuard };

/**
 * With `safety.redact_prompts`: PII in what the agent sends is replaced in the request before it
 * leaves, through the prompt its wire read (each text's `set` writes into the body); a block
 * verdict refuses the request. Every text the agent may rewrite is scanned: messages and their
 * parts, tool calls' arguments (as JSON, redacted inside strings only) and tool results, the
 * system prompt or instructions, a prompt or input. Returns whether anything changed (the agent's
 * own bytes can then no longer be sent).
 */
export function guardPrompt(prompt: NonNullable<OutputGuard['prompt']>, agentId: string, ref: string, parts: PromptParts): boolean {
  let changed = false;
  const fix = (text: string, kind?: SlotKind): string => {
    const g = prompt(agentId, ref, text, kind);
    if (g.block) throw new GatewayError('blocked', g.block.replace('this response', 'this request'), false, undefined, 'pii_blocked');
    if (g.text !== text) changed = true;
    return g.text;
  };
  const walk = (list: readonly PromptPart[]) => {
    for (const p of list) {
      if (p.type === 'text' && p.set) {
        const t = fix(p.text);
        if (t !== p.text) p.set((p.text = t));
      } else if (p.type === 'call' && p.set) {
        const json = typeof p.input === 'string' ? p.input : JSON.stringify(p.input);
        const t = fix(json, 'json');
        if (t !== json) p.set(t);
      } else if (p.type === 'result' || p.type === 'other') walk(p.parts);
    }
  };
  if (parts.instructions) walk(parts.instructions.parts);
  for (const m of parts.messages) walk(m.parts);
  walk(parts.input);
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
