import type { SafetyMode } from '../domain/pii/index.js';
import type { Blocked, ToolPiiGuard } from './redact.js';

/**
 * The PII step for a tool answer still compressed in a content coding iron-cage cannot undo
 * (`zstd` on Node 20, or a made-up one; we ask upstreams for `identity`): the scan cannot read
 * it, so it is refused where the policy redacts or blocks, and passes where it only warns or is
 * off. Null: it may pass.
 */
export type UnreadableRule = (coding: string, agentId: string | null) => Blocked | null;

const what = (coding: string) => `compressed as '${coding}', which iron-cage cannot decode to check it for personal data`;

/**
 * The rule under one safety mode, without an audit trail (for embedding and tests).
 *
 * @example
 * modeUnreadable('redact')('zstd', null)?.message; // "the answer came compressed as 'zstd', … and the safety mode is redact"
 */
export function modeUnreadable(mode: SafetyMode): UnreadableRule {
  return (coding) => (mode === 'redact' || mode === 'block' ? { message: `the answer came ${what(coding)}, and the safety mode is ${mode}`, types: null } : null);
}

/**
 * Through the runtime's PII engine: its `tool_response` policy decides, and it announces the
 * answer it could not read (a `pii.unscanned` event), refused or not.
 *
 * @example
 * const rule = guardUnreadable(pii, 'crm'); rule('zstd', 'lg-1'); // { message: 'Iron Cage refused …', types: null }
 */
export function guardUnreadable(guard: ToolPiiGuard, service: string): UnreadableRule {
  return (coding, agentId) => {
    const why = guard.unreadable(agentId, 'tool.response', what(coding), `tool:${service}`);
    return why === null ? null : { message: why, types: null };
  };
}
