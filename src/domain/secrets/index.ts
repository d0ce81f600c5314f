// The secrets domain: Argon2id + AES-256-GCM sealing, the vault check value, names, values and
// masking. Plain data in and out; storage and HTTP live elsewhere (src/state/secrets.store.ts, src/secrets/).
export { Vault, type SealedSecret, type VaultCheck } from './vault.js';
export { KDF_DEFAULTS, parseKdfParams, deriveKey, verifiablePasswordHash, type KdfParams } from './crypto.js';
export { CREDENTIAL_MIN_LENGTH, CREDENTIAL_REDACTED, CredentialScrubber, credentialForms } from './scrub.js';
export {
  mask,
  checkName,
  checkValue,
  checkEnvironment,
  checkScope,
  inScope,
  DEFAULT_ENVIRONMENT,
  NAME_MAX,
  VALUE_MAX_BYTES,
  SECRET_REF_RE,
  SECRET_TEMPLATE_RE,
  configRef,
  refText,
  type ConfigRef,
  type RefSource,
} from './rules.js';
