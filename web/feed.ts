// The live feed: /ws with resume, each event applied once and in order, pop-ups for news, and
// the token's life (start, a new token, a token that stopped working).
import { api, ApiError, currentToken, saveToken, useToken } from './api.js';
import { approvalEvent } from './approvals.js';
import { learnAgent, refreshAgent, refreshApprovals, refreshBreakers, refreshFor, refreshMcp, refreshSecrets } from './refresh.js';
import { addToast, emptyTimeline, MAX_EVENTS, selectedAgent, set, state, upsertAgent } from './store.js';
import { toastFor } from './toasts.js';
import type { Agent, AnyEvent, FeedEvent, Whoami, WsFrame } from './types.js';
import { ReconnectingSocket } from './reconnect.js';

/** Pop-ups only for what is news: a replay after a long absence does not raise old alarms. */
const POPUP_MAX_AGE_MS = 60_000;
const enc = encodeURIComponent;

/** Whether the feed sent the event whole: one past the server's size cap comes with its data left out. */
function whole(ev: FeedEvent): ev is AnyEvent {
  return !('truncated' in ev.data && ev.data.truncated === true);
}

/** A PII detection counts at once, from the counters the event carries; the refetch confirms. */
function countDetection(ev: AnyEvent): void {
  if (ev.type !== 'pii.detected' || !ev.agentId) return;
  const d = ev.data;
  const prev = state.protection[ev.agentId];
  if (!prev) return;
  state.protection = {
    ...state.protection,
    [ev.agentId]: {
      ...prev,
      piiLeaksBlocked: d.counters.piiLeaksBlocked,
      piiWarned: d.counters.piiWarned,
      piiLeaksBlockedByType: { ...prev.piiLeaksBlockedByType, ...d.counters.byType },
      latest: { ts: ev.ts, preview: d.preview, types: d.types, location: d.location },
    },
  };
}

/**
 * The spend and limit an event carries, into its agent's status object, which the cost panel
 * shows: they move with every call, where the cost report follows at most every
 * COST_REPORT_GAP_MS. A status object sent with the event is newer still, and replaces it.
 */
function applySpend(ev: AnyEvent): void {
  const figures =
    ev.type === 'llm.request' || ev.type === 'budget.progress' || ev.type === 'budget.threshold'
      ? { spentUsd: ev.data.spentUsd, limitUsd: ev.data.limitUsd }
      : ev.type === 'budget.changed'
        ? { limitUsd: ev.data.limitUsd }
        : null;
  if (!figures) return;
  const agent = state.agents.find((a) => a.id === ev.agentId);
  if (!agent) return;
  const budget = agent.budget ?? { limitUsd: null, spentUsd: 0, reservedUsd: 0, waiting: 0 };
  state.agents = upsertAgent(state.agents, { ...agent, budget: { ...budget, ...figures } });
}

/**
 * A circuit's new state, into the breakers list at once: a Reset button must go the moment the
 * circuit closes (by a probe, another tab, the API), not when the refetch that follows answers.
 */
function applyBreaker(ev: AnyEvent): void {
  if (ev.type !== 'breaker.transition' && ev.type !== 'breaker.reset') return;
  const to = ev.type === 'breaker.reset' ? 'CLOSED' : ev.data.to;
  const retryAfterMs = ev.type === 'breaker.transition' && to === 'OPEN' ? ev.data.cooldownMs : 0;
  const service = ev.data.service;
  if (ev.data.kind === 'tool' && state.breakers) state.breakers = state.breakers.map((b) => (b.service === service ? { ...b, state: to, retryAfterMs } : b));
  if (ev.data.kind === 'provider' && state.providers) state.providers = state.providers.map((b) => (b.provider === service ? { ...b, state: to, retryAfterMs } : b));
  if (ev.data.kind === 'mcp' && state.mcp)
    state.mcp = state.mcp.map((m) => (m.name === service ? { ...m, breaker: { ...m.breaker, state: to, retryAfterMs, ...(to === 'CLOSED' ? { consecutiveFailures: 0 } : {}) } } : m));
}

/**
 * Apply events in seq order, each exactly once. `news`: raise pop-ups and refresh what they
 * change. `replay`: they come in a snapshot, whose status objects are newer than any of them.
 */
function apply(items: Array<{ event: FeedEvent; agent?: Agent }>, o: { news: boolean; replay: boolean }): void {
  const before = selectedAgent()?.id;
  let events = state.events;
  let appended = false;
  for (const { event, agent } of items) {
    const fresh = event.seq > state.lastSeq;
    if (fresh && !o.replay && whole(event)) {
      applySpend(event);
      applyBreaker(event);
    }
    if (agent) state.agents = upsertAgent(state.agents, agent);
    else if (event.agentId) learnAgent(event.agentId);
    if (!fresh) continue;
    if (!appended) {
      events = events.slice();
      appended = true;
    }
    events.push(event);
    state.lastSeq = event.seq;
    if (whole(event)) {
      countDetection(event);
      approvalEvent(event);
    }
    // A snapshot is followed by one refresh of everything (onFrame); news refreshes what it changes.
    if (o.news) {
      const t = whole(event) && Date.now() - Date.parse(event.ts) < POPUP_MAX_AGE_MS ? toastFor(event, state.agents) : null;
      if (t) addToast(t);
      refreshFor(event);
    }
  }
  if (events.length > MAX_EVENTS) events = events.slice(events.length - MAX_EVENTS);
  set({ events });
  // The page follows a newly started agent by itself: load what its panels show.
  const after = selectedAgent()?.id;
  if (after && after !== before) refreshAgent(after);
}

/** Reconnect at once (a truncated replay), not after a backoff. */
let resumeNow = false;
/** Whether the socket now open resumed from an earlier one (`?after=`). */
let resumed = false;

/**
 * /ws, kept connected: on a drop it says so, backs off and resumes with `?after=<last seq>`, so
 * every event shows exactly once.
 */
const socket = new ReconnectingSocket({
  path: () => {
    const token = currentToken();
    if (!token) return null;
    resumed = state.lastSeq > 0;
    return `/ws?token=${enc(token)}${resumed ? `&after=${state.lastSeq}` : ''}`;
  },
  frame: (data, sock) => onFrame(data as WsFrame, resumed, sock),
  revoked: (reason) => markUnauthorized(reason),
  neverOpened: () => void checkToken(),
  now: () => {
    const now = resumeNow;
    resumeNow = false;
    return now;
  },
});

function onFrame(frame: WsFrame, resumed: boolean, sock: WebSocket): void {
  if (frame.type === 'snapshot') {
    // A server whose log is behind ours is a new database (or a restart on a fresh --db): start over.
    const reset = frame.seq < state.lastSeq;
    if (reset)
      Object.assign(state, { events: [], lastSeq: 0, costs: {}, performance: {}, protection: {}, watch: {}, runway: {}, steps: {}, timeline: emptyTimeline(), approvals: { status: 'loading' } });
    const first = reset || (state.lastSeq === 0 && !resumed);
    set({ agents: frame.agents, conn: 'live' });
    socket.live();
    // The first snapshot is history (no pop-ups); after a reconnect it is what was missed.
    apply(
      frame.events.map((event) => ({ event })),
      { news: !first, replay: true },
    );
    // A replay is capped: ask again from where it stopped until nothing is left out.
    if (frame.truncated) {
      resumeNow = true;
      sock.close(1000, 'resuming');
      return;
    }
    // After the snapshot is on screen: the aggregates follow in one round of requests.
    setTimeout(() => {
      const a = selectedAgent();
      if (a) refreshAgent(a.id);
      refreshBreakers();
      refreshApprovals();
      refreshMcp();
      if (!first) refreshSecrets();
    }, 0);
    return;
  }
  apply(frame.type === 'event' ? [frame] : frame.items, { news: true, replay: false });
}

/** Connect to /ws and stay connected (see `socket`). */
export function connect(): void {
  socket.connect();
}

/** Is the token still good? A 401 goes to the "get a new URL" page (api() reports it). */
async function checkToken(): Promise<void> {
  try {
    await api('/api/whoami');
  } catch {
    /* 401 handled by api(); anything else: the server is down, keep reconnecting */
  }
}

export function disconnect(): void {
  socket.stop();
}

/** Check the token, learn the role, then go live. */
export async function start(): Promise<void> {
  if (!currentToken()) return set({ auth: 'login' });
  // The feed and the role are asked for at once: the first render waits for one round trip, not two.
  if (!socket.active) connect();
  try {
    const who = await api<Whoami>('/api/whoami');
    set({ auth: 'ok', role: who.role, user: who.name });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // api() has sent the page to its explanation
    // The server is not answering yet: try again like a dropped socket would.
    set({ conn: 'reconnecting' });
    setTimeout(() => void start(), 2000);
    return;
  }
  refreshSecrets();
}

/** The token is no good: forget it and show how to get a new URL. */
export function markUnauthorized(message = 'your token is no longer valid'): void {
  disconnect();
  saveToken(null);
  useToken(null, markUnauthorized);
  set({ auth: 'invalid', authMessage: message, conn: 'offline' });
}

/** A new token (a login, or a new URL pasted into this tab): start over with it. */
export function useNewToken(token: string): void {
  disconnect();
  saveToken(token);
  useToken(token, markUnauthorized);
  set({ auth: 'checking', authMessage: null, role: null, user: null, conn: 'connecting' });
  void start();
}
