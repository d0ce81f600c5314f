import type { TestProject } from 'vitest/node';
import { startServer, type TestPostgres } from './postgres.js';

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
  await server?.destroy();
}
