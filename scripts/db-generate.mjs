// `npm run db:generate [-- --name=<what>]`: after a change of src/state/schema.ts (or
// schema-panel.ts), write src/state/panel/schema-pg.ts from schema.ts (scripts/pg-schema.ts), then let
// drizzle-kit write the migration each dialect lacks. Extra arguments go to both drizzle-kit runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
// Bundled into node_modules/.cache so its packages resolve from the project.
const dir = mkdtempSync(join(root, 'node_modules', '.cache', 'db-generate-'));
try {
  const out = join(dir, 'pg-schema.mjs');
  await build({ entryPoints: [join(root, 'scripts/pg-schema.ts')], bundle: true, platform: 'node', format: 'esm', outfile: out, packages: 'external', logLevel: 'warning' });
  const { renderPgSchema } = await import(pathToFileURL(out).href);
  writeFileSync(join(root, 'src/state/panel/schema-pg.ts'), renderPgSchema());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const extra = process.argv.slice(2);
for (const config of ['drizzle.config.ts', 'drizzle.pg.config.ts']) {
  const r = spawnSync('npx', ['drizzle-kit', 'generate', `--config=${config}`, ...extra], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
