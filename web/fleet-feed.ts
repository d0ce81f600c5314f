// The fleet page's live feed: the control panel's /ws, reconnecting with backoff as feed.ts does.
// A runtime frame moves its runtime's "last seen" and "behind" at once; a batch frame adds its
// events to the live log and refetches the aggregates it changed (fleet-store.ts throttles that);
// a budget frame (an admin's change, a lease reclaimed, a threshold crossed) refetches the budgets;
// an approval asked for in a batch pops up, and the queue is refetched when one is asked for or decided.
import { api, ApiError, currentToken, saveToken, useToken } from './api.js';
import { markUnauthorized } from './feed.js';
import { type FleetLiveEvent, type FleetPart, applyApprovalEvents, applyBudgetFrame, applyEvents, applyRuntime, fleet, refreshFleet, stopBudgetsPoll } from './fleet-store.js';
import { set } from './store.js';
import type { PanelApprovalFrame, PanelBudgetFrame, Whoami } from './types.js';
import { ReconnectingSocket } from './reconnect.js';

/** What the panel's /ws pushes to a viewer. Each frame has its place in the panel's feed (`feed`), whichever replica sent it. */
export type PanelFrame = (
  | { kind: 'hello'; mode: 'panel'; feed: number; replay?: PanelFrame[] | null }
  | {
      kind: 'batch';
      runtime: string;
      seq: number;
      events: FleetLiveEvent[];
      /** Rows new to the panel, by kind. */
      stored?: { agents: number; events: number; llmRequests: number; toolCalls: number; breakers: number };
    }
  | { kind: 'runtime'; runtime: string; lastSeenAt: number | null; behind: number }
  | PanelBudgetFrame
  | PanelApprovalFrame
) & { feed?: number };

const ALL: FleetPart[] = ['fleet', 'agents', 'spend', 'detail', 'budgets', 'approvals', 'live'];

/** The last place in the panel's feed this page has: a reconnect (to this replica or, behind a load balancer, another) resumes after it. */
let lastFeed: number | null = null;

/**
 * The panel's /ws, kept connected: on a drop it says so, backs off and, once back, refetches
 * everything (the figures that moved meanwhile) and takes the frames it missed (the live log's
 * events) from the replica it reached, which holds the whole panel's recent feed.
 */
const socket = new ReconnectingSocket({
  path: () => {
    const token = currentToken();
    if (!token) return null;
    return `/ws?token=${encodeURIComponent(token)}${lastFeed === null ? '' : `&after=${lastFeed}`}`;
  },
  opened: () => {
    socket.live();
    set({ conn: 'live' });
    refreshFleet(...ALL);
  },
  frame: (data) => onFrame(data as PanelFrame),
  revoked: (reason) => fleetUnauthorized(reason),
  neverOpened: () => void api('/api/whoami').catch(() => undefined),
});

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
  if (frame.feed !== undefined && frame.feed > 0) lastFeed = Math.max(lastFeed ?? 0, frame.feed);
  // A hello's `feed` is where its replica stands; with its replay (what this page missed) the page stands there too.
  if (frame.kind === 'hello') {
    for (const f of frame.replay ?? []) onFrame(f);
    return;
  }
  if (frame.kind === 'runtime') {
    // A runtime the page has not listed yet (just added): the list comes again.
    if (!applyRuntime(frame)) refreshFleet('fleet');
    return;
  }
  if (frame.kind === 'batch') {
    applyEvents(frame.events ?? []);
    applyApprovalEvents(frame.events ?? []);
    refreshFleet(...partsFor(frame));
    return;
  }
  if (frame.kind === 'budget') applyBudgetFrame(frame);
  // A panel user decided an approval (here, another tab, the API): the queue says so.
  if (frame.kind === 'approval') refreshFleet('approvals');
}

/** Connect to the panel's /ws and stay connected (see `socket`). */
export function connectFleet(): void {
  socket.connect();
}

function disconnectFleet(): void {
  stopBudgetsPoll();
  socket.stop();
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
  if (!socket.active) connectFleet();
  try {
    const who = await api<Whoami>('/api/whoami');
    set({ auth: 'ok', role: who.role, user: who.name });
    // The figures do not wait for the socket (which asks again once it opens).
    refreshFleet('fleet', 'agents', 'spend', 'budgets', 'approvals', 'live');
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
