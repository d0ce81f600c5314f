import { redact, type SafetyMode } from '../safety/index.js';

export interface RedactedBody {
  body: Buffer;
  /** Findings of the PII scanner (replaced in `redact` mode, counted only in `warn`). */
  redactions: number;
  /** Set when the policy says the answer must not reach the agent at all: why. */
  blocked: { message: string; types: string[] | null } | null;
}

/**
 * The PII step for a tool's answer. The proxy calls it once per live answer, before the answer
 * is cached, so neither the agent nor the cache sees what the policy removes. ToolsOptions can
 * replace it.
 */
export type ResponseRedactor = (body: Buffer, contentType: string | undefined, agentId: string | null) => RedactedBody;

/**
 * The runtime's PII engine (src/protection/pii.service.ts PiiProtection) as the proxy uses it:
 * scan, apply the policy, and write the audit trail and the `pii.detected` event itself.
 */
export interface ToolPiiGuard {
  inspect(agentId: string | null, location: 'tool.response', text: string, requestRef?: string | null): { text: string; redactions: number; block: string | null };
}

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|x-ndjson|ld\+json|problem\+json)|application\/[\w.+-]+\+(json|xml))/i;

function isTextual(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXTUAL.test(contentType.trim());
}

const CLEAN = (body: Buffer): RedactedBody => ({ body, redactions: 0, blocked: null });

/** Through the runtime's PII engine, so tool answers are audited like LLM output. */
export function guardRedactor(guard: ToolPiiGuard, service: string): ResponseRedactor {
  return (body, contentType, agentId) => {
    if (body.length === 0 || !isTextual(contentType)) return CLEAN(body);
    const text = body.toString('utf8');
    const r = guard.inspect(agentId, 'tool.response', text, `tool:${service}`);
    if (r.redactions === 0 && r.block === null) return CLEAN(body);
    return {
      // Unchanged text keeps its original bytes (warn mode, or text we would not round-trip).
      body: r.text === text ? body : Buffer.from(r.text, 'utf8'),
      redactions: r.redactions,
      blocked: r.block === null ? null : { message: r.block, types: null },
    };
  };
}

/** The safety domain's redactor alone, under one mode: no audit trail (for embedding and tests). */
export function redactResponse(mode: SafetyMode): ResponseRedactor {
  const policy = { mode };
  return (body, contentType) => {
    if (body.length === 0 || !isTextual(contentType)) return CLEAN(body);
    const text = body.toString('utf8');
    const r = redact(text, { policy });
    if (r.detections.length === 0) return CLEAN(body);
    const types = [...new Set(r.detections.map((d) => d.type))];
    return {
      body: r.text === text ? body : Buffer.from(r.text, 'utf8'),
      redactions: r.detections.length,
      blocked: r.blocked ? { message: `the response contained personal data (${types.join(', ')}) and the safety mode is block`, types } : null,
    };
  };
}
