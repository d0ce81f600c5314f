import type Database from 'better-sqlite3';

// Forward-only migrations. Each runs once, in a transaction, and bumps PRAGMA user_version.
// Append new ones; never edit one that has shipped. What they build must be what schema.ts
// declares (test/state/schema.test.ts compares a freshly migrated database with it), so a new
// table or column goes into both.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    script TEXT,
    args TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    pid INTEGER,
    supervisor_pid INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    exit_code INTEGER,
    exit_signal TEXT,
    restarts INTEGER NOT NULL DEFAULT 0,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER,
    progress_unit TEXT NOT NULL DEFAULT 'items',
    limit_micros INTEGER
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    agent_id TEXT,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_agent_seq ON events (agent_id, seq);
  -- The audit trail is append-only: the database itself refuses to rewrite history.
  CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
  CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL
  );
  CREATE INDEX checkpoints_agent_id ON checkpoints (agent_id, id);
  `,
  // 2: the LLM gateway's ledger and API tokens for agents iron-cage does not spawn.
  `
  CREATE TABLE llm_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    stream INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    http_status INTEGER,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    reserved_micros INTEGER NOT NULL DEFAULT 0,
    usage_source TEXT NOT NULL DEFAULT 'provider',
    latency_ms REAL,
    first_byte_ms REAL,
    redactions INTEGER NOT NULL DEFAULT 0,
    error TEXT
  );
  CREATE INDEX llm_requests_agent ON llm_requests (agent_id, id);
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    agent_id TEXT,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  `,
  // 3: circuit breakers (snapshot + tier counters per service), the tool proxy's response
  // cache (tier 2, survives restarts) and its per-call record.
  `
  CREATE TABLE breakers (
    service TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    tiers TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
  );
  CREATE TABLE tool_cache (
    key TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    body BLOB NOT NULL,
    stored_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX tool_cache_service ON tool_cache (service, stored_at);
  CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    agent_id TEXT,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    tier TEXT,
    reason TEXT NOT NULL,
    detail TEXT,
    upstream_status INTEGER,
    latency_ms REAL NOT NULL,
    upstream_ms REAL,
    bytes INTEGER NOT NULL DEFAULT 0,
    redactions INTEGER NOT NULL DEFAULT 0,
    fault INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX tool_calls_service ON tool_calls (service, id);
  CREATE INDEX tool_calls_agent ON tool_calls (agent_id, id);
  `,
  // 4: the PII audit trail. Append-only like events; the value itself only ever as a keyed
  // hash and an AES-256-GCM sealed copy.
  `
  CREATE TABLE pii_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    agent_id TEXT,
    location TEXT NOT NULL,
    request_ref TEXT,
    type TEXT NOT NULL,
    risk TEXT NOT NULL,
    severity TEXT NOT NULL,
    action TEXT NOT NULL,
    confidence REAL NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    value_hmac TEXT NOT NULL,
    value_sealed TEXT NOT NULL
  );
  CREATE INDEX pii_audit_agent ON pii_audit (agent_id, id);
  CREATE INDEX pii_audit_hmac ON pii_audit (value_hmac);
  CREATE TRIGGER pii_audit_no_update BEFORE UPDATE ON pii_audit
    BEGIN SELECT RAISE(ABORT, 'the PII audit trail is append-only: UPDATE is not allowed'); END;
  CREATE TRIGGER pii_audit_no_delete BEFORE DELETE ON pii_audit
    BEGIN SELECT RAISE(ABORT, 'the PII audit trail is append-only: DELETE is not allowed'); END;
  `,
  // 5: the secrets vault (sealed values, soft delete, a name unique per environment among live
  // rows), its append-only audit log, its check value, and each run's environment.
  `
  ALTER TABLE agents ADD COLUMN environment TEXT NOT NULL DEFAULT 'development';
  CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    environment TEXT NOT NULL,
    salt BLOB NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    kdf TEXT NOT NULL,
    masked_sealed BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
  );
  CREATE UNIQUE INDEX secrets_live_name ON secrets (name, environment) WHERE deleted_at IS NULL;
  CREATE INDEX secrets_environment ON secrets (environment, name);
  CREATE TABLE secret_audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_name TEXT,
    operation TEXT NOT NULL,
    requester_role TEXT NOT NULL,
    requester TEXT NOT NULL,
    agent_id TEXT,
    success INTEGER NOT NULL,
    error_message TEXT,
    timestamp TEXT NOT NULL
  );
  CREATE INDEX secret_audit_name ON secret_audit_log (secret_name, id);
  CREATE TRIGGER secret_audit_log_no_update BEFORE UPDATE ON secret_audit_log
    BEGIN SELECT RAISE(ABORT, 'the secret audit log is append-only: UPDATE is not allowed'); END;
  CREATE TRIGGER secret_audit_log_no_delete BEFORE DELETE ON secret_audit_log
    BEGIN SELECT RAISE(ABORT, 'the secret audit log is append-only: DELETE is not allowed'); END;
  CREATE TABLE vault_meta (
    id INTEGER PRIMARY KEY,
    salt BLOB NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    kdf TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  // 6: named dashboard users (an Argon2id hash of the password; soft removal, a name unique
  // among live users).
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT
  );
  CREATE UNIQUE INDEX users_live_name ON users (name) WHERE removed_at IS NULL;
  `,
  // 7: the agent's own outcome counts (NULL until it reports any), and an index that finds an
  // agent's events of the few types looked up one agent at a time (uptime, the latest PII
  // preview, refusals) without reading the rest of its log. Partial, so the other events (the
  // hottest write) do not pay for it.
  `
  ALTER TABLE agents ADD COLUMN progress_succeeded INTEGER;
  ALTER TABLE agents ADD COLUMN progress_failed INTEGER;
  CREATE INDEX events_agent_type ON events (agent_id, type, seq)
    WHERE type IN ('agent.started', 'agent.exited', 'agent.restarting', 'pii.detected', 'tool.refused');
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > MIGRATIONS.length) {
    throw new Error(`database schema version ${from} is newer than this iron-cage understands (${MIGRATIONS.length}); upgrade iron-cage`);
  }
  for (let v = from; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return { from, to: MIGRATIONS.length };
}
