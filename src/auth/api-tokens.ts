import { createHash, randomBytes } from 'node:crypto';

// API tokens for agents iron-cage does not spawn (a notebook, another service). 256 random
// bits, so a fast unsalted SHA-256 is the right hash: only the hash is stored, and lookups are
// by hash (spec, "API Token Hashing").
export const API_TOKEN_PREFIX = 'ic_';

export function generateApiToken(): { token: string; hash: string } {
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, hash: hashApiToken(token) };
}

export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function isApiToken(token: string): boolean {
  return token.startsWith(API_TOKEN_PREFIX);
}
