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
