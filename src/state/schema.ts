import { sqliteTable, text, integer, index } from 'drizzle-orm/sqlite-core';

// Tables as drizzle sees them. The DDL that creates them lives in migrations.ts (plain SQL,
// versioned by PRAGMA user_version) because triggers and pragmas are not drizzle's to make;
// test/state checks the two agree.

export const agents = sqliteTable('agents', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  kind: text('kind').notNull(), // 'supervised' | 'external'
  script: text('script'),
  args: text('args').notNull(), // JSON array
  status: text('status').notNull(),
  pid: integer('pid'),
  supervisorPid: integer('supervisor_pid'),
  createdAt: text('created_at').notNull(),
  startedAt: text('started_at'),
  endedAt: text('ended_at'),
  exitCode: integer('exit_code'),
  exitSignal: text('exit_signal'),
  restarts: integer('restarts').notNull(),
  progressDone: integer('progress_done').notNull(),
  progressTotal: integer('progress_total'),
  progressUnit: text('progress_unit').notNull(),
  limitMicros: integer('limit_micros'),
});

export const events = sqliteTable(
  'events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    ts: text('ts').notNull(),
    agentId: text('agent_id'),
    type: text('type').notNull(),
    severity: text('severity').notNull(),
    message: text('message').notNull(),
    data: text('data').notNull(), // JSON object
  },
  (t) => [index('events_agent_seq').on(t.agentId, t.seq)],
);

export const checkpoints = sqliteTable(
  'checkpoints',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    agentId: text('agent_id').notNull(),
    createdAt: text('created_at').notNull(),
    state: text('state').notNull(), // JSON
  },
  (t) => [index('checkpoints_agent_id').on(t.agentId, t.id)],
);

export type AgentRow = typeof agents.$inferSelect;
export type EventRow = typeof events.$inferSelect;
