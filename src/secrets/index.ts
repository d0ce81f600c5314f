// The secrets vault as a feature (over the pure sealing of domain/secrets): the VaultService
// (unlock, audit, injection, rotation), the one RBAC decision, its routes, the config's
// `secret:NAME` references, and the factory the runtime starts it with.
export { VaultService, rekey, type RuntimeRead, type SecretView, type VaultStatus } from './vault.js';
export { refusal, type SecretAction } from './rbac.js';
export { type SecretList, vaultRoutes } from './secrets.routes.js';
export { CREDENTIAL_NAME, fillRefs, refUnavailable, SecretRefs, secretRef, wantRefs } from './refs.js';

export { announceVault, secretsService } from './secrets.service.js';
