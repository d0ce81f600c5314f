import { defineConfig } from 'drizzle-kit';

// The control panel's PostgreSQL migrations: schema-pg.ts (generated from schema.ts by
// scripts/pg-schema.ts) and the panel's own tables. `npm run db:generate` runs both configs.
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/state/panel/schema-pg.ts', './src/state/panel/schema-panel.ts'],
  out: './src/state/migrations/pg',
});
