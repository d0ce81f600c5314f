import { GatewayError } from './errors.js';

/**
 * What the gateway asks of the PII engine: rewrite (or refuse) model output, whole or streamed.
 */
export interface GuardResult {
  text: string;
  redactions: number;
  /** Set in block mode: why the output must not reach the agent. */
  block: string | null;
}

export interface StreamGuard {
  push(text: string): GuardResult;
  end(): GuardResult;
}

export interface OutputGuard {
  readonly active: boolean;
  text(agentId: string, requestRef: string, text: string): GuardResult;
  stream(agentId: string, requestRef: string): StreamGuard;
  /** When prompts are protected too (config `safety.redact_prompts`). */
  prompt?(agentId: string, requestRef: string, text: string): GuardResult;
}

/**
 * With `safety.redact_prompts`: PII in what the agent sends is replaced in `json` before it
 * leaves; a block verdict refuses the request. Returns whether anything changed (the agent's
 * own bytes can then no longer be sent).
 */
export function guardPrompt(prompt: NonNullable<OutputGuard['prompt']>, agentId: string, ref: string, json: Record<string, unknown>): boolean {
  let changed = false;
  const fix = (text: string): string => {
    const g = prompt(agentId, ref, text);
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
        else if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') (part as { text: string }).text = fix((part as { text: string }).text);
      });
    }
  };
  if (Array.isArray(json.messages)) for (const m of json.messages) if (m && typeof m === 'object') fixContent(m as Record<string, unknown>, 'content');
  for (const k of ['system', 'prompt', 'input', 'instructions']) if (k in json) fixContent(json, k);
  // Responses API input items: messages carry `content`, tool results `output`.
  if (Array.isArray(json.input)) {
    for (const it of json.input) if (it && typeof it === 'object') for (const k of ['content', 'output']) if (k in it) fixContent(it as Record<string, unknown>, k);
  }
  return changed;
}
