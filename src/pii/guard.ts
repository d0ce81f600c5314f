// What the gateway asks of PII protection (PiiProtection.outputGuard() gives it): rewrite or
// refuse model output, whole or streamed, prompts and provider errors. Defined here, beside its
// one implementation, so the gateway depends on PII protection and never the other way round.

/** How a text is read: prose, or a JSON document (tool-call arguments) whose strings are scanned. */
export type SlotKind = 'text' | 'json';

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
  /** Whether any output is scanned (`safety.locations` output or tool_arguments not off). */
  readonly active: boolean;
  /**
   * Whether streamed token log-probabilities are withheld: where output redacts or blocks (any
   * type), a piece's tokens would leave before the redactor knows whether it is PII.
   */
  readonly withholdsLogprobs?: boolean;
  text(agentId: string, requestRef: string, text: string, kind?: SlotKind): GuardResult;
  stream(agentId: string, requestRef: string, kind?: SlotKind): StreamGuard;
  /** When prompts are protected too (`safety.locations.prompt`, or `safety.redact_prompts`). */
  prompt?(agentId: string, requestRef: string, text: string, kind?: SlotKind): GuardResult;
  /**
   * A provider's error text: redacted, never refused nor a reason to halt (it is a refusal
   * already); `stored` is always redacted, for the request row, whatever the mode.
   */
  error?(agentId: string, requestRef: string, text: string): GuardResult & { stored: string };
  /**
   * The PII types a short text the agent chose holds (a model name), by the detectors and the
   * allow-lists alone, whatever the policy: such a text is refused, never sent, stored or shown.
   */
  typesIn(text: string): string[];
}
