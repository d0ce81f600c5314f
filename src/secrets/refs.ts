import { SECRET_REF_RE } from '../domain/secrets/index.js';

/** The secret a config value refers to, or null for a plain value. */
export function secretRef(value: string | null): string | null {
  return value === null ? null : (SECRET_REF_RE.exec(value)?.[1] ?? null);
}

/**
 * The values of the secrets the config refers to, held for the process and replaced when one
 * rotates: services register what they need at build time (`want`) and read the current value
 * per use (`get`), so the next upstream call uses a rotated key and calls in flight keep theirs.
 */
export class SecretRefs {
  private readonly wantedNames = new Set<string>();
  private readonly values = new Map<string, string>();

  want(name: string): void {
    this.wantedNames.add(name);
  }

  wanted(): string[] {
    return [...this.wantedNames];
  }

  get(name: string): string | null {
    return this.values.get(name) ?? null;
  }

  set(name: string, value: string | null): void {
    if (value === null) this.values.delete(name);
    else this.values.set(name, value);
  }
}
