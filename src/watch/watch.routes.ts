import type { Hono } from 'hono';
import * as z from 'zod';
import { oneLine } from '../core/validation.js';
import { assertRole, type Principal } from '../core/roles.js';
import { readJsonBody, parseWith, readableAgent, type AppEnv } from '../server/index.js';
import type { StateManager } from '../state/index.js';
import type { Watch } from './watch.js';

const pauseBody = z.strictObject({ reason: oneLine(500).optional() });
const resumeBody = z.strictObject({});

/**
 * `POST /api/agents/:id/pause` and `/resume` (admins), `GET /api/agents/:id/watch` (whoever may
 * read the agent). Pause and resume answer the agent's status object.
 */
export function watchRoutes(d: { state: StateManager; watch: Watch; redact: (agentId: string, text: string) => string }) {
  const readable = (p: Principal, id: string) => readableAgent(d.state, p, id);
  return (app: Hono<AppEnv>) => {
    app.post('/api/agents/:id/pause', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const id = c.req.param('id');
      readable(p, id);
      const body = parseWith(pauseBody, await readJsonBody(c.req, { optional: true }));
      // The reason is shown everywhere the event is: scanned like any text a person typed.
      const reason = body.reason === undefined ? 'paused by hand' : d.redact(id, body.reason);
      return c.json(d.watch.pause(id, { by: `${p.role} ${p.name}`, reason, cause: 'manual', causeSeq: null }));
    });

    app.post('/api/agents/:id/resume', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const id = c.req.param('id');
      readable(p, id);
      parseWith(resumeBody, await readJsonBody(c.req, { optional: true }));
      return c.json(d.watch.resume(id, `${p.role} ${p.name}`));
    });

    app.get('/api/agents/:id/watch', (c) => {
      return c.json(d.watch.view(readable(c.get('principal'), c.req.param('id'))));
    });
  };
}
