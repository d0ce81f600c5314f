import WebSocket from 'ws';
import { expect } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';

// Shared by the WebSocket and token suites: sockets whose close code a test awaits.

export const wsBase = (url: string) => url.replace(/^http/, 'ws');

export interface Sock {
  ws: WebSocket;
  /** Resolves with the close code and reason the client saw. */
  closed: Promise<{ code: number; reason: string }>;
  /** Frames received, parsed. */
  frames: any[];
}

/** A WebSocket to /ws with `token`; resolves once open (rejects with the HTTP status of a refused upgrade). */
export async function openWs(url: string, token: string, query = ''): Promise<Sock> {
  const ws = new WebSocket(`${wsBase(url)}/ws?token=${encodeURIComponent(token)}${query}`);
  const frames: any[] = [];
  ws.on('message', (raw) => frames.push(JSON.parse(String(raw))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, closed, frames };
}

/** The status a WebSocket upgrade with `token` gets: 101 when it opens. */
export async function upgradeStatus(url: string, token: string): Promise<number> {
  try {
    const s = await openWs(url, token);
    s.ws.close();
    return 101;
  } catch (e) {
    const m = /HTTP (\d+)/.exec(String(e));
    if (!m) throw e;
    return Number(m[1]);
  }
}

/** An agent API token made by the admin through the API. */
export async function apiAgentToken(t: TestRuntime, name: string): Promise<{ id: string; token: string; agentId: string }> {
  const r = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name }) });
  expect(r.status).toBe(201);
  return r.json();
}

/** The claims of a JWT, unverified (the test only reads what iron-cage put there). */
export function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
}
