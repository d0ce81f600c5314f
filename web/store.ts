// The page's one state: what /ws and the REST aggregates say, plus what the user chose. Panels
// read it through useStore(); everything that changes it lives here, so the order of events,
// the resume-after-reconnect and the refetch rules are in one place.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, currentToken, saveToken, useToken } from './api.js';
import { errorToast, toastFor, type Toast } from './toasts.js';
import { LIVE_STATUSES } from './status.js';
import type { Agent, Breaker, Costs, IronEvent, Performance, Protection, Role, Secret, WsFrame } from './types.js';

/** The server's close code for "your credentials are no longer good". */
const WS_REVOKED = 4401;
/** Events kept in the browser: a multi-hour run must not grow the page without bound. */
export const MAX_EVENTS = 5000;
const MAX_TOASTS = 3;
const INFO_TOAST_MS = 6000;

export type Conn = 'connecting' | 'live' | 'reconnecting' | 'offline';
export type Auth = 'checking' | 'login' | 'ok' | 'invalid';
export type SecretsState =
  | { status: 'loading' }
  | { status: 'ok'; list: Secret[] }
  | { status: 'locked' | 'forbidden' | 'error'; message: string };

export interface State {
  auth: Auth;
  authMessage: string | null;
  role: Role | null;
  user: string | null;
  conn: Conn;
  /** The last event seq shown: resume point for the WebSocket and the exactly-once guard. */
  lastSeq: number;
  agents: Agent[];
  /** The agent the user picked; null means "follow the running one". */
  picked: string | null;
  events: IronEvent[];
  costs: Record<string, Costs>;
  performance: Record<string, Performance>;
  protection: Record<string, Protection>;
  breakers: Breaker[] | null;
  secrets: SecretsState;
  toasts: Toast[];
}

const state: State = {
  auth: 'checking',
  authMessage: null,
  role: null,
  user: null,
  conn: 'connecting',
  lastSeq: 0,
  agents: [],
  picked: null,
  events: [],
  costs: {},
  performance: {},
  protection: {},
  breakers: null,
  secrets: { status: 'loading' },
  toasts: [],
};

const listeners = new Set<() => void>();
let notifyQueued = false;

function changed(): void {
  if (notifyQueued) return;
  notifyQueued = true;
  queueMicrotask(() => {
    notifyQueued = false;
    for (const l of listeners) l();
  });
}

function set(patch: Partial<State>): void {
  Object.assign(state, patch);
  changed();
}

export function getState(): Readonly<State> {
  return state;
}

/**
 * Re-render the calling component whenever the state changes.
 *
 * @example
 *   const s = useStore(); return <span>{s.conn}</span>;
 */
export function useStore(): Readonly<State> {
  const [, bump] = useState(0);
  useEffect(() => {
    const l = () => bump((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}

/** The agent the panels show: the picked one, else the running one, else the newest. */
export function selectedAgent(s: Readonly<State> = state): Agent | null {
  if (s.picked) {
    const a = s.agents.find((x) => x.id === s.picked);
    if (a) return a;
  }
  return s.agents.find((a) => LIVE_STATUSES.has(a.status)) ?? s.agents[0] ?? null;
}

export function pickAgent(id: string | null): void {
  set({ picked: id });
  const a = selectedAgent();
  if (!a) return;
  refreshAgent(a.id);
  // An earlier run's events may be older than what the feed replayed: fetch them.
  if (!LIVE_STATUSES.has(a.status)) void loadHistory(a.id);
}

// ── refetches: on the events that change an aggregate, never on a timer ─────────────────

const inFlight = new Map<string, { again: boolean }>();

/** Run `load` now, or once more after the call in flight for `key`: a burst of events costs two requests, not one per event. */
function refetch(key: string, load: () => Promise<void>): void {
  const f = inFlight.get(key);
  if (f) return void (f.again = true);
  const entry = { again: false };
  inFlight.set(key, entry);
  load()
    .catch((e) => {
      if (!(e instanceof ApiError && e.status === 401)) console.warn(`refresh ${key}:`, e instanceof Error ? e.message : e);
    })
    .finally(() => {
      inFlight.delete(key);
      if (entry.again) refetch(key, load);
    });
}

const enc = encodeURIComponent;

function refreshCosts(id: string): void {
  refetch(`costs:${id}`, async () => set({ costs: { ...state.costs, [id]: await api<Costs>(`/api/agents/${enc(id)}/costs`) } }));
}
function refreshPerformance(id: string): void {
  refetch(`perf:${id}`, async () => set({ performance: { ...state.performance, [id]: await api<Performance>(`/api/agents/${enc(id)}/performance`) } }));
}
function refreshProtection(id: string): void {
  refetch(`prot:${id}`, async () => set({ protection: { ...state.protection, [id]: await api<Protection>(`/api/agents/${enc(id)}/protection`) } }));
}
function refreshBreakers(): void {
  refetch('breakers', async () => set({ breakers: (await api<{ services: Breaker[] }>('/api/breakers')).services }));
}
export function refreshSecrets(): void {
  refetch('secrets', async () => {
    try {
      // A locked vault is a state to explain, not a failed request: ask first.
      const vault = await api<{ status: string; message: string | null }>('/api/secrets/status');
      if (vault.status !== 'unlocked') return set({ secrets: { status: 'locked', message: vault.message ?? 'the vault is locked' } });
      set({ secrets: { status: 'ok', list: (await api<{ secrets: Secret[] }>('/api/secrets')).secrets } });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const status = e.status === 423 ? 'locked' : e.status === 403 ? 'forbidden' : 'error';
      set({ secrets: { status, message: e.message } });
    }
  });
}

function refreshAgent(id: string): void {
  refreshCosts(id);
  refreshPerformance(id);
  refreshProtection(id);
}

/** Which aggregates an event changes, for the agent it belongs to. */
function refreshFor(ev: IronEvent): void {
  const t = ev.type;
  const id = ev.agentId;
  // Blocked calls and cache answers are rows, not events: an agent's progress is when they change.
  if (t.startsWith('breaker.') || t.startsWith('fault.') || t === 'tool.fallback' || t === 'agent.progress') refreshBreakers();
  if (t.startsWith('secret.')) refreshSecrets();
  if (!id || id !== selectedAgent()?.id) return;
  if (t === 'llm.request' || t.startsWith('budget.')) refreshCosts(id);
  if (t === 'llm.request' || t === 'agent.progress' || t === 'agent.started' || t === 'agent.exited' || t.startsWith('breaker.')) refreshPerformance(id);
  if (t === 'pii.detected' || t === 'tool.refused') refreshProtection(id);
}

// ── the live feed ────────────────────────────────────────────────────────────────────────

function upsertAgent(list: Agent[], a: Agent): Agent[] {
  const i = list.findIndex((x) => x.id === a.id);
  if (i < 0) return [a, ...list].sort((x, y) => y.createdAt.localeCompare(x.createdAt));
  const next = list.slice();
  next[i] = a;
  return next;
}

/** A PII detection counts at once, from the counters the event carries; the refetch confirms. */
function countDetection(ev: IronEvent): void {
  if (ev.type !== 'pii.detected' || !ev.agentId) return;
  const d = ev.data;
  const prev = state.protection[ev.agentId];
  if (!prev) return;
  state.protection = {
    ...state.protection,
    [ev.agentId]: {
      ...prev,
      piiLeaksBlocked: d.counters?.piiLeaksBlocked ?? prev.piiLeaksBlocked,
      piiWarned: d.counters?.piiWarned ?? prev.piiWarned,
      piiLeaksBlockedByType: { ...prev.piiLeaksBlockedByType, ...(d.counters?.byType ?? {}) },
      latest: { ts: ev.ts, preview: d.preview, types: d.types, location: d.location },
    },
  };
}

function addToast(t: Toast): void {
  // One pop-up per subject: a second PII detection updates the first instead of stacking.
  const next = [...state.toasts.filter((x) => x.key !== t.key), t];
  // At most three: the ones that go away by themselves make room first, then the oldest.
  while (next.length > MAX_TOASTS) {
    const i = next.findIndex((x) => x.autoDismiss && x !== t);
    next.splice(i >= 0 ? i : 0, 1);
  }
  state.toasts = next;
  if (t.autoDismiss) setTimeout(() => dismissToast(t.id), INFO_TOAST_MS);
}

/** A pop-up for something the user did that failed (the server's message says why). */
export function notifyError(title: string, e: unknown): void {
  addToast(errorToast(title, e instanceof Error ? e.message : String(e)));
  changed();
}

export function dismissToast(id: number): void {
  if (!state.toasts.some((t) => t.id === id)) return;
  set({ toasts: state.toasts.filter((t) => t.id !== id) });
}

/** Pop-ups only for what is news: a replay after a long absence does not raise old alarms. */
const POPUP_MAX_AGE_MS = 60_000;
const asked = new Set<string>();

/** An agent the page has not seen (one that connects with its own key): ask for it once. */
function learnAgent(id: string): void {
  if (asked.has(id) || state.agents.some((a) => a.id === id)) return;
  asked.add(id);
  api<Agent>(`/api/agents/${enc(id)}/status`).then(
    (a) => set({ agents: upsertAgent(state.agents, a) }),
    () => {},
  );
}

/** Apply events in seq order, each exactly once. `live`: raise pop-ups and refresh what they change. */
function apply(items: Array<{ event: IronEvent; agent?: Agent }>, live: boolean): void {
  const before = selectedAgent()?.id;
  let events = state.events;
  let appended = false;
  for (const { event, agent } of items) {
    if (agent) state.agents = upsertAgent(state.agents, agent);
    else if (event.agentId) learnAgent(event.agentId);
    if (event.seq <= state.lastSeq) continue;
    if (!appended) {
      events = events.slice();
      appended = true;
    }
    events.push(event);
    state.lastSeq = event.seq;
    countDetection(event);
    // A snapshot is followed by one refresh of everything (onFrame); live events refresh what they change.
    if (live) {
      const t = Date.now() - Date.parse(event.ts) < POPUP_MAX_AGE_MS ? toastFor(event, state.agents) : null;
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

/** Older events of one agent, from REST, merged in seq order (an earlier run picked in the picker). */
async function loadHistory(agentId: string): Promise<void> {
  const { events } = await api<{ events: IronEvent[] }>(`/api/events?agentId=${enc(agentId)}&limit=1000`);
  const have = new Set(state.events.map((e) => e.seq));
  const older = events.filter((e) => !have.has(e.seq) && e.seq < state.lastSeq);
  if (older.length === 0) return;
  set({ events: [...older, ...state.events].sort((a, b) => a.seq - b.seq) });
}

let ws: WebSocket | null = null;
let attempts = 0;
let stopped = false;
/** Reconnect at once (a truncated replay), not after a backoff. */
let resumeNow = false;

function onFrame(frame: WsFrame, resumed: boolean, sock: WebSocket): void {
  if (frame.type === 'snapshot') {
    // A server whose log is behind ours is a new database (or a restart on a fresh --db): start over.
    const reset = frame.seq < state.lastSeq;
    if (reset) Object.assign(state, { events: [], lastSeq: 0, costs: {}, performance: {}, protection: {} });
    const first = reset || (state.lastSeq === 0 && !resumed);
    set({ agents: frame.agents, conn: 'live' });
    attempts = 0;
    // The first snapshot is history (no pop-ups); after a reconnect it is what was missed.
    apply(
      frame.events.map((event) => ({ event })),
      !first,
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
      if (!first) refreshSecrets();
    }, 0);
    return;
  }
  apply(frame.type === 'event' ? [frame] : frame.items, true);
}

/**
 * Connect to /ws and stay connected: on a drop, say so, back off (0.5 s doubling to 10 s, with
 * jitter) and resume with `?after=<last seq>`, so every event shows exactly once.
 */
export function connect(): void {
  stopped = false;
  const token = currentToken();
  if (!token) return;
  const resumed = state.lastSeq > 0;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${proto}://${location.host}/ws?token=${enc(token)}${resumed ? `&after=${state.lastSeq}` : ''}`;
  const sock = new WebSocket(url);
  ws = sock;
  let delivered = false;
  sock.onmessage = (m) => {
    delivered = true;
    try {
      onFrame(JSON.parse(String(m.data)) as WsFrame, resumed, sock);
    } catch (e) {
      console.warn('bad frame from /ws:', e instanceof Error ? e.message : e);
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock || stopped) return;
    ws = null;
    if (e.code === WS_REVOKED) return markUnauthorized(e.reason || 'your token is no longer valid');
    if (resumeNow) {
      resumeNow = false;
      return connect();
    }
    set({ conn: 'reconnecting' });
    // A refused upgrade looks like any drop (1006): a token that stopped working must say so.
    if (!delivered) void checkToken();
    const delay = Math.min(500 * 2 ** attempts, 10_000) * (0.75 + Math.random() * 0.5);
    attempts++;
    setTimeout(() => {
      if (!stopped && ws === null) connect();
    }, delay);
  };
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
  stopped = true;
  ws?.close();
  ws = null;
}

/** Check the token, learn the role, then go live. */
export async function start(): Promise<void> {
  if (!currentToken()) return set({ auth: 'login' });
  // The feed and the role are asked for at once: the first render waits for one round trip, not two.
  if (!ws) connect();
  try {
    const who = await api<{ role: Role; name: string }>('/api/whoami');
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
