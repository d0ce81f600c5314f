import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';

/**
 * `lead_gen_agent.py` → `lg`: initials of the script's words, leaving out a trailing
 * "agent" so every agent is not `xa`. Falls back to `ag` when nothing usable remains.
 */
export function agentPrefix(scriptOrName: string): string {
  const stem = basename(scriptOrName)
    .replace(/\.[^.]+$/, '')
    .toLowerCase();
  let words = stem.split(/[^a-z0-9]+/).filter(Boolean);
  if (words.length > 1 && words[words.length - 1] === 'agent') words = words.slice(0, -1);
  if (words.length === 0) return 'ag';
  const initials =
    words.length === 1
      ? words[0]!.slice(0, 2)
      : words
          .map((w) => w[0])
          .join('')
          .slice(0, 4);
  return initials.length >= 2 ? initials : `${initials}a`;
}

export function newAgentId(scriptOrName: string): string {
  return `${agentPrefix(scriptOrName)}-${randomBytes(4).toString('hex')}`;
}

/** An API token's row id (every kind: api, session, login link, runtime): `tok_` and 12 hex digits. */
export function newTokenId(): string {
  return `tok_${randomBytes(6).toString('hex')}`;
}

/** Whether `s` has the form of a token id (`tok_` and 12 hex digits, newTokenId): no token's name may, so that one says one token. */
export function isTokenId(s: string): boolean {
  return /^tok_[0-9a-f]{12}$/.test(s);
}

/** `secret-` and 16 hex digits. */
export function newSecretId(): string {
  return `secret-${randomBytes(8).toString('hex')}`;
}
export const SECRET_ID_RE = /^secret-[0-9a-f]{16}$/;
