import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { Replica } from '../../src/panel/replica.js';
import { openPostgres, type Postgres } from '../../src/state/panel/pg.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// A replica's heartbeat against its own drain and stop: a beat still in flight (a slow
// PostgreSQL) must not land after the draining beat or after the row was removed.

let server: TestPostgres;
let pg: Postgres;
beforeAll(async () => {
  server = await startPostgres();
  pg = await openPostgres(await server.createDatabase('replica_beat'));
}, 60_000);
afterAll(async () => {
  await pg?.close();
  await server?.destroy();
});

const logger = createLogger({ format: 'json', level: 'error' });

/** The store's next beat waits `ms` before it is sent (the ones after go at once). */
function slowNextBeat(r: Replica, ms: number): void {
  const beat = r.store.beat.bind(r.store);
  let first = true;
  r.store.beat = async (row, now) => {
    if (first) {
      first = false;
      await sleep(ms);
    }
    return beat(row, now);
  };
}

const row = async (id: string) => (await pg.pool.query<{ draining: boolean }>('select draining from panel_replicas where id = $1', [id])).rows[0];

describe('a replica’s heartbeat', () => {
  it('never says "serving" after it said "draining", whatever beat was in flight', async () => {
    const r = new Replica(pg.db, { version: 't', logger, id: 'beat-drain' });
    await r.start('http://127.0.0.1:1');
    slowNextBeat(r, 300);
    const inFlight = (r as unknown as { beat(): Promise<void> }).beat();
    await r.drain();
    await inFlight;
    await sleep(50);
    expect((await row('beat-drain'))?.draining).toBe(true);
    await r.close();
  });

  it('is not listed after close(), whatever beat was in flight', async () => {
    const r = new Replica(pg.db, { version: 't', logger, id: 'beat-close' });
    await r.start('http://127.0.0.1:1');
    slowNextBeat(r, 300);
    void (r as unknown as { beat(): Promise<void> }).beat();
    await r.close();
    await sleep(400);
    expect(await row('beat-close')).toBeUndefined();
  });
});
