// The fleet page's live feed: the control panel's /ws, reconnecting with backoff as feed.ts does.
// A runtime frame moves its runtime's "last seen" and "behind" at once; a batch frame adds its
// events to the live log and refetches the aggregates it changed (fleet-store.ts throttles that);
// a budget frame (an admin's change, a lease reclaimed, a threshold crossed) refetches the budgets.
import { api, ApiError, currentToken, saveToken, useToken } from './api.js';
import { markUnauthorized } from './feed.js';
import { type FleetLiveEvent, type FleetPart, applyBudgetFrame, applyEvents, applyRuntime, fleet, refreshFleet, stopBudgetsPoll } from './fleet-store.js';
import { set } from './store.js';
import type { PanelBudgetFrame, Whoami } from './types.js';

/** What the panel's /ws pushes to a viewer. */
export type PanelFrame =
  | {
      kind: 'batch';
      runtime: string;
      seq: number;
      events: FleetLiveEvent[];
      /** Rows new to the panel, by kind. */
      stored?: { agents: number; events: number; llmRequests: number; toolCalls: number; breakers: number };
    }
  | { kind: 'runtime'; runtime: string; lastSeenAt: number | null; behind: number }
  | PanelBudgetFrame;

/** The server's close code for "your credentials are no longer good". */
const WS_REVOKED = 4401;
const ALL: FleetPart[] = ['fleet', 'agents', 'spend', 'detail', 'budgets'];

let ws: WebSocket | null = null;
let attempts = 0;
let stopped = false;

/** What a batch changed, from the rows it stored: the runtime row always (its last sequence). */
export function partsFor(frame: Extract<PanelFrame, { kind: 'batch' }>): FleetPart[] {
  const s = frame.stored;
  const parts: FleetPart[] = ['fleet'];
  if (!s || s.agents + s.llmRequests + s.events > 0) parts.push('agents');
  if (!s || s.llmRequests > 0) parts.push('spend');
  // Landed rows are what a budget has spent; with no budget on the panel they change none.
  if ((!s || s.llmRequests > 0) && fleet.budgets?.length !== 0) parts.push('budgets');
  if (fleet.picked?.runtime === frame.runtime) parts.push('detail');
  return parts;
}

function onFrame(frame: PanelFrame): void {
  if (frame.kind === 'runtime') {
    // A runtime the page has not listed yet (just added): the list comes again.
    if (!applyRuntime(frame)) refreshFleet('fleet');
    return;
  }
  if (frame.kind === 'batch') {
    applyEvents(frame.events ?? []);
    refreshFleet(...partsFor(frame));
    return;
  }
  if (frame.kind === 'budget') applyBudgetFrame(frame);
}

/**
 * Connect to the panel's /ws and stay connected: on a drop, say so, back off (0.5 s doubling to
 * 10 s, with jitter) and, once back, refetch everything (the batches missed meanwhile).
 */
export function connectFleet(): void {
  stopped = false;
  const token = currentToken();
  if (!token) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const sock = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws = sock;
  let opened = false;
  sock.onopen = () => {
    opened = true;
    attempts = 0;
    set({ conn: 'live' });
    refreshFleet(...ALL);
  };
  sock.onmessage = (m) => {
    try {
      onFrame(JSON.parse(String(m.data)) as PanelFrame);
    } catch (e) {
      console.warn('bad frame from /ws:', e instanceof Error ? e.message : e);
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock || stopped) return;
    ws = null;
    if (e.code === WS_REVOKED) return fleetUnauthorized(e.reason || 'your token is no longer valid');
    set({ conn: 'reconnecting' });
    // A refused upgrade looks like any drop: a token that stopped working must say so.
    if (!opened) void api('/api/whoami').catch(() => undefined);
    const delay = Math.min(500 * 2 ** attempts, 10_000) * (0.75 + Math.random() * 0.5);
    attempts++;
    setTimeout(() => {
      if (!stopped && ws === null) connectFleet();
    }, delay);
  };
}

function disconnectFleet(): void {
  stopped = true;
  stopBudgetsPoll();
  ws?.close();
  ws = null;
}

/** The token is no good: stop the fleet's socket, then the page says how to log in again. */
export function fleetUnauthorized(message = 'your token is no longer valid'): void {
  disconnectFleet();
  markUnauthorized(message);
}

/** Check the token, learn the role, then go live on the fleet. */
export async function startFleet(): Promise<void> {
  useToken(currentToken(), fleetUnauthorized);
  if (!currentToken()) return set({ auth: 'login' });
  if (!ws) connectFleet();
  try {
    const who = await api<Whoami>('/api/whoami');
    set({ auth: 'ok', role: who.role, user: who.name });
    // The figures do not wait for the socket (which asks again once it opens).
    refreshFleet('fleet', 'agents', 'spend', 'budgets');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    set({ conn: 'reconnecting' });
    setTimeout(() => void startFleet(), 2000);
  }
}

/** A new token (a login): start the fleet over with it. */
export function useNewFleetToken(token: string): void {
  disconnectFleet();
  saveToken(token);
  useToken(token, fleetUnauthorized);
  set({ auth: 'checking', authMessage: null, role: null, user: null, conn: 'connecting' });
  void startFleet();
}
