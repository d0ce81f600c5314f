import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { PanelBus } from '../../src/panel/bus.js';
import { openPostgres, type Postgres } from '../../src/state/panel/pg.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The replicas' feed (bus.ts) on its own: what a viewer that reconnects with ?after= is given by
// a replica that started after the frames it missed were written.

let server: TestPostgres;
let pg: Postgres;
let url: string;
beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('bus');
  pg = await openPostgres(url);
}, 60_000);
afterAll(async () => {
  await pg?.close();
  await server?.destroy();
});

const logger = createLogger({ format: 'json', level: 'error' });
const busOf = (replica: string) => new PanelBus({ pool: pg.pool, url, replica, logger });

describe('the panel feed’s replay (?after=)', () => {
  it('says it does not hold what a viewer missed before this replica started (replay null: refetch), rather than "nothing"', async () => {
    const a = busOf('a');
    await a.start();
    const heard: number[] = [];
    a.subscribe((e) => heard.push(e.id));
    a.publish(['{"kind":"x","n":1}']);
    await until(() => (heard.length === 1 ? true : null), 2_000, 10);
    const seen = heard[0]!;
    // Written while the viewer was away, before the replica it reconnects to started.
    a.publish(['{"kind":"x","n":2}']);
    await until(() => (heard.length === 2 ? true : null), 2_000, 10);
    const c = busOf('c');
    await c.start();
    try {
      expect(c.newest()).toBe(heard[1]);
      expect(c.since(seen)).toBeNull();
      // A viewer that has everything is told so.
      expect(c.since(heard[1]!)).toEqual([]);
      // Frames written after c started are in its ring and replayed.
      a.publish(['{"kind":"x","n":3}']);
      await until(() => (c.newest() > heard[1]! ? true : null), 3_000, 10);
      expect(c.since(heard[1]!)?.map(String)).toEqual([`{"feed":${c.newest()},"kind":"x","n":3}`]);
    } finally {
      await a.close();
      await c.close();
    }
  });
});
