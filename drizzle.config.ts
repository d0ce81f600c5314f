import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` diffs the runtime's schema (src/state/schema.ts, the tables both databases
// hold, and src/state/runtime/schema-runtime.ts, its own) against the last snapshot in the
// migrations folder and writes the SQL that gets a database from one to the other; the runner
// (src/state/runtime/migrate.ts) applies it on open. What drizzle cannot express (the append-only
// triggers) is a custom migration: `npm run db:generate -- --custom --name=<what>`, SQL by hand.
export default defineConfig({
  dialect: 'sqlite',
  // The tables both databases hold, and the runtime's own.
  schema: ['./src/state/schema.ts', './src/state/runtime/schema-runtime.ts'],
  out: './src/state/migrations/sqlite',
});
