import { randomBytes } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { newTokenId } from '../core/ids.js';
import { checkScope } from '../domain/secrets/index.js';
import { hashApiToken } from '../auth/index.js';
import { RUNTIME_ID, type RuntimesStore, type RuntimeView } from '../state/index.js';

/** A runtime token's prefix: an API token (`ic_`) that says what it is for. */
export const RUNTIME_TOKEN_PREFIX = 'ic_rt_';

/** What adding a runtime answers: its row and its token, shown once (only a hash is kept). */
export interface AddedRuntime {
  runtime: RuntimeView;
  token: string;
  tokenId: string;
}

/**
 * Add a runtime and make its token, with the panel secrets it may read (`secrets`: names and
 * `PREFIX_*` patterns; none by default), for `POST /api/runtimes` and `iron-cage panel runtime add`
 * alike. The id is what the runtime reports as (`--panel-runtime`, its batches' `runtime`).
 *
 * @example
 *   const { token } = await addRuntime(store, { id: 'laptop-ann', userId: null, secrets: ['OPENAI_API_KEY', 'CRM_*'] });
 */
export async function addRuntime(store: RuntimesStore, o: { id: string; userId: string | null; secrets?: readonly unknown[] }): Promise<AddedRuntime> {
  if (!RUNTIME_ID.test(o.id)) throw new ValidationError(`id: a runtime id is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit (got '${o.id.slice(0, 70)}')`);
  const secrets = checkScope(o.secrets ?? []);
  const token = RUNTIME_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const tokenId = newTokenId();
  const now = new Date();
  const runtime = await store.add({
    id: o.id,
    userId: o.userId,
    secrets,
    now,
    token: { id: tokenId, name: `runtime ${o.id}`, role: 'runtime', agentId: null, hash: hashApiToken(token), createdAt: now.toISOString(), revokedAt: null, kind: 'runtime', expiresAt: null },
  });
  return { runtime, token, tokenId };
}
