import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { keyPathFor, loadOrCreateKey, TokenService } from '../auth/index.js';
import { isLoopbackHost, type Config } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import type { SecretAuditRow } from '../state/index.js';
import type { SecretView } from '../secrets/index.js';

export type SecretAuditView = Pick<SecretAuditRow, 'timestamp' | 'operation' | 'secretName' | 'requesterRole' | 'requester' | 'agentId' | 'success' | 'errorMessage'>;

/** A running iron-cage that holds this database, and an admin token it accepts. */
export interface Server {
  url: string;
  token: string;
}

/**
 * The server serving this database, if one answers: at `--url`, else at the configured host
 * and port. It is ours when it proves it holds the key beside the database (an HMAC of a fresh
 * nonce, see TokenService.proof); only then does it get an admin token, and values. Whoever
 * else listens on that port gets nothing. Changes made through it reach running agents
 * (SIGUSR1); changes on the file do not.
 */
export async function findServer(config: Config, user: string, explicitUrl?: string): Promise<Server | null> {
  const keyPath = keyPathFor(config.db);
  if (!existsSync(keyPath)) {
    if (explicitUrl) throw new ConfigError(`--url: no iron-cage has used ${config.db} yet`);
    return null;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = (explicitUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`).replace(/\/+$/, '');
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ConfigError(`--url: "${url}" is not a URL`);
  }
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && isLoopbackHost(target.hostname))) {
    throw new ConfigError(`--url: use https:// for an iron-cage on another machine (a token and secret values would cross the network in the clear)`);
  }
  const tokens = new TokenService(loadOrCreateKey(keyPath).key);
  const nonce = randomBytes(16).toString('hex');
  try {
    const r = await fetch(`${url}/api/health?proof=${nonce}`, { signal: AbortSignal.timeout(1500) });
    const proof = r.ok ? ((await r.json()) as { proof?: unknown }).proof : null;
    const expected = Buffer.from(tokens.proof(nonce));
    if (typeof proof === 'string' && proof.length === expected.length && timingSafeEqual(Buffer.from(proof), expected)) {
      return { url, token: await tokens.issue({ role: 'admin', name: `cli:${user}`, ttlSeconds: 300 }) };
    }
  } catch {
    /* nobody there, or not an iron-cage */
  }
  if (explicitUrl) throw new ConfigError(`--url: no iron-cage serving ${config.db} answers at ${url}`);
  return null;
}

async function call(s: Server, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = (await r.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!r.ok) throw new ConfigError(out.error?.message ?? `${method} ${path}: HTTP ${r.status}`);
  return out;
}

/** set / rotate / rm through the server; returns the line to print (the same as on the file). */
export async function remoteChange(s: Server, action: 'set' | 'rotate' | 'rm', name: string, environment: string, value?: () => Promise<string>): Promise<string> {
  const { secrets } = await call(s, 'GET', `/api/secrets?environment=${encodeURIComponent(environment)}`);
  const row = (secrets as Array<{ id: string; name: string }>).find((x) => x.name === name);
  if (!row && action !== 'set') throw new ConfigError(`no secret ${name} in environment ${environment}`);
  if (action === 'rm') {
    const { deleted } = await call(s, 'DELETE', `/api/secrets/${row!.id}`);
    return `Deleted ${deleted.name} from ${deleted.environment} (${deleted.id}).`;
  }
  const v = await value!();
  const out = row ? await call(s, 'PUT', `/api/secrets/${row.id}`, { value: v }) : await call(s, 'POST', '/api/secrets', { name, environment, value: v });
  return `${row ? 'Updated' : 'Created'} ${out.name} in ${out.environment} (${out.id}): ${out.maskedValue} (through ${s.url})`;
}

/** What list, get and audit read, from the server instead of the file (no master key needed here). */
export const remoteRead = {
  list: async (s: Server, environment: string | undefined): Promise<SecretView[]> =>
    (await call(s, 'GET', `/api/secrets${environment === undefined ? '' : `?environment=${encodeURIComponent(environment)}`}`)).secrets,
  get: async (s: Server, name: string, environment: string): Promise<string> => {
    const row = (await remoteRead.list(s, environment)).find((x) => x.name === name);
    if (!row) throw new ConfigError(`no secret ${name} in environment ${environment}`);
    return (await call(s, 'GET', `/api/secrets/${row.id}?reveal=true`)).value;
  },
  audit: async (s: Server, q: { name?: string; operation?: string; limit: number }): Promise<SecretAuditView[]> => {
    const p = new URLSearchParams({ limit: String(q.limit) });
    if (q.name) p.set('secret_name', q.name);
    if (q.operation) p.set('operation', q.operation);
    return (await call(s, 'GET', `/api/secrets/audit?${p}`)).records;
  },
};
