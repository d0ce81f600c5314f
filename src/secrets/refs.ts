import { configRef, refText, type ConfigRef, type RefSource } from '../domain/secrets/index.js';

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
