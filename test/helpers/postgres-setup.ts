import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startServer, type TestPostgres } from './postgres.js';
import { treeSeconds } from './proc-cpu.js';

// The run's one PostgreSQL server (vitest `globalSetup`): started once before any file runs,
// each file then takes a database of its own on it (`startPostgres`), stopped when the run ends.
// Started only where PostgreSQL is installed; elsewhere each file says how to install it, as before.

let server: TestPostgres | null = null;

export async function setup(project: TestProject): Promise<void> {
  try {
    server = await startServer();
  } catch {
    // Not installed here: every file that needs it fails with the install hint (startServer's error).
    server = null;
  }
  project.provide('postgres', server ? { port: server.port } : null);
}

export async function teardown(): Promise<void> {
  // TEST_CPU_LOG (cpu-setup.ts): what the server spent for the whole run, its backends included.
  const log = process.env.TEST_CPU_LOG;
  if (log && server) {
    try {
      const pid = Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      appendFileSync(log, `(the run's PostgreSQL)\t0\t${treeSeconds(pid, true).toFixed(2)}\n`);
    } catch (err) {
      // A measurement, never a reason for the run to fail.
      console.warn(`TEST_CPU_LOG: the PostgreSQL server's CPU could not be read: ${(err as Error).message}`);
    }
  }
  await server?.destroy();
}
