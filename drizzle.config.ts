import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` diffs src/state/schema.ts against the last snapshot in the migrations
// folder and writes the SQL that gets a database from one to the other; the runner
// (src/state/runtime/migrate.ts) applies it on open. What drizzle cannot express (the append-only
// triggers) is a custom migration: `npm run db:generate -- --custom --name=<what>`, SQL by hand.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/state/schema.ts',
  out: './src/state/migrations/sqlite',
});
