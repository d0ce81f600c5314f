import { IronCageError } from '../core/errors.js';
import { configRef, refText, SECRET_TEMPLATE_RE, type ConfigRef, type RefSource } from '../domain/secrets/index.js';

/** The vault secret a config value refers to (`secret:NAME`), or null for a plain value or a `panel:` reference. */
export function secretRef(value: string | null): string | null {
  const r = configRef(value);
  return r?.source === 'secret' ? r.name : null;
}

/**
 * The values of the secrets the config refers to, held in memory for the process and replaced
 * when one rotates: services register what they need at build time (`want`) and read the current
 * value per use (`get`), so the next upstream call uses a rotated key and calls in flight keep
 * theirs. Filled by the local vault (`secret:NAME`) and by the control panel (`panel:NAME`).
 */
export class SecretRefs {
  private readonly wantedRefs = new Map<string, ConfigRef>();
  private readonly values = new Map<string, string>();

  want(ref: ConfigRef): void {
    this.wantedRefs.set(refText(ref), ref);
  }

  /** The names wanted from one source. */
  wanted(source: RefSource): string[] {
    return [...this.wantedRefs.values()].filter((r) => r.source === source).map((r) => r.name);
  }

  get(ref: ConfigRef): string | null {
    return this.values.get(refText(ref)) ?? null;
  }

  set(ref: ConfigRef, value: string | null): void {
    if (value === null) this.values.delete(refText(ref));
    else this.values.set(refText(ref), value);
  }
}

/** The secrets named inside config strings (`Bearer ${secret:NAME}`, `${panel:NAME}`), registered with `refs` so their values are kept. */
export function wantRefs(values: Iterable<string>, refs: Pick<SecretRefs, 'want'> | undefined): void {
  for (const v of values) for (const m of v.matchAll(SECRET_TEMPLATE_RE)) refs?.want({ source: m[1] as RefSource, name: m[2]! });
}

/**
 * `value` with each `${secret:NAME}` and `${panel:NAME}` filled from `refs` (read per use, so a
 * rotation applies to the next one), and the values filled in (credentials sent on the agent's
 * behalf: what an answer must not echo). A secret that is not there throws `missing(ref)`:
 * nothing is sent with the placeholder.
 * @example fillRefs('Bearer ${secret:GH}', refs, (r) => new Error(`${r.name} missing`)) // { value: 'Bearer ghp_…', filled: ['ghp_…'] }
 */
export function fillRefs(value: string, refs: Pick<SecretRefs, 'get'> | undefined, missing: (ref: ConfigRef) => Error): { value: string; filled: string[] } {
  const filled: string[] = [];
  if (!value.includes('${')) return { value, filled };
  const out = value.replace(SECRET_TEMPLATE_RE, (_m, source: RefSource, name: string) => {
    const v = refs?.get({ source, name }) ?? null;
    if (v === null) throw missing({ source, name });
    filled.push(v);
    return v;
  });
  return { value: out, filled };
}

/**
 * Why a call that needs a secret is refused (503) when it is not there, naming the config key
 * (`where`) that needs it. Only an operator mends it (unlock the vault, add the secret): a
 * client retrying at once changes nothing.
 */
export function refUnavailable(where: string, ref: ConfigRef): IronCageError {
  return new IronCageError(
    'secret_unavailable',
    503,
    ref.source === 'panel'
      ? `${where} needs panel:${ref.name}, which is not available (removed from the control panel, or out of this runtime's scope)`
      : `${where} needs secret:${ref.name}, which is not available (vault locked, or no such secret in this run's environment)`,
    { retry: false },
  );
}

/** Configured names (a header, an environment variable) whose value is a credential even when written in the config rather than taken from the vault. */
export const CREDENTIAL_NAME = /auth|token|key|secret|passw|cookie|session|signature|credential/i;
