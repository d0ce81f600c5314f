import type { Usage } from './types.js';

// The one rule every wire's usage reader (whole answers and streamed events alike) follows: a
// count is the provider's only where it gave a non-negative number. A count left out, null or
// not a number is unknown, never 0: the gateway then charges its own figure instead (the prompt
// estimate it reserved on, the output text it relayed), because a provider that omits
// completion_tokens still billed for the completion. An answer that has no output by its nature
// (embeddings) is the one place a missing output count means 0.

/** A usage count as the provider gave it, or undefined when it gave none that can be charged. */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.ceil(v) : undefined;
}

/** The counts that are known, and only those: an unknown one is absent, not 0. */
export function knownUsage(promptTokens: number | undefined, completionTokens: number | undefined, cacheReadTokens?: number, cacheWriteTokens?: number): Partial<Usage> {
  const u: Partial<Usage> = {};
  if (promptTokens !== undefined) u.promptTokens = promptTokens;
  if (completionTokens !== undefined) u.completionTokens = completionTokens;
  if (cacheReadTokens !== undefined) u.cacheReadTokens = cacheReadTokens;
  if (cacheWriteTokens !== undefined) u.cacheWriteTokens = cacheWriteTokens;
  return u;
}

/** Whether both counts came from the provider, so the row's usage is the provider's. */
export function fromProvider(u: Partial<Usage>): boolean {
  return u.promptTokens !== undefined && u.completionTokens !== undefined;
}
