// The page's one state: what /ws and the REST aggregates say, plus what the user chose. Panels
// read it through useStore(); everything that changes it lives here, so the order of events,
// the resume-after-reconnect and the refetch rules are in one place.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, currentToken } from './api.js';
import { errorToast, toastFor, type Toast } from './toasts.js';
import type { Agent, Breaker, Costs, IronEvent, Performance, Protection, Role, Secret, WsFrame } from './types.js';

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
  /** Events before this seq were left out (the replay was truncated). */
  gapBefore: number | null;
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
  gapBefore: null,
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
  return s.agents.find((a) => a.status === 'running' || a.status === 'starting' || a.status === 'restarting') ?? s.agents[0] ?? null;
}

export function pickAgent(id: string | null): void {
  set({ picked: id });
  const a = selectedAgent();
  if (a) refreshAgent(a.id);
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
  if (t.startsWith('breaker.') || t.startsWith('fault.') || t === 'tool.fallback') refreshBreakers();
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
  const rest = state.toasts.filter((x) => x.key !== t.key);
  state.toasts = [...rest, t].slice(-MAX_TOASTS);
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

/** Apply events in seq order, each exactly once. `live`: raise pop-ups for them. */
function apply(items: Array<{ event: IronEvent; agent?: Agent }>, live: boolean): void {
  let events = state.events;
  let appended = false;
  for (const { event, agent } of items) {
    if (agent) state.agents = upsertAgent(state.agents, agent);
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
      const t = toastFor(event, state.role, state.agents);
      if (t) addToast(t);
      refreshFor(event);
    }
  }
  if (events.length > MAX_EVENTS) events = events.slice(events.length - MAX_EVENTS);
  set({ events });
}

let ws: WebSocket | null = null;
let attempts = 0;
let stopped = false;

function onFrame(frame: WsFrame, resumed: boolean): void {
  if (frame.type === 'snapshot') {
    const first = state.lastSeq === 0 && !resumed;
    set({ agents: frame.agents, conn: 'live' });
    attempts = 0;
    if (frame.truncated) state.gapBefore = frame.events[0]?.seq ?? null;
    // The first snapshot is history (no pop-ups); after a reconnect it is what was missed.
    apply(
      frame.events.map((event) => ({ event })),
      !first,
    );
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
  sock.onmessage = (m) => {
    try {
      onFrame(JSON.parse(String(m.data)) as WsFrame, resumed);
    } catch (e) {
      console.warn('bad frame from /ws:', e instanceof Error ? e.message : e);
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock || stopped) return;
    ws = null;
    if (e.code === 4401) {
      set({ auth: 'invalid', authMessage: e.reason || 'your token is no longer valid', conn: 'offline' });
      return;
    }
    set({ conn: 'reconnecting' });
    const delay = Math.min(500 * 2 ** attempts, 10_000) * (0.75 + Math.random() * 0.5);
    attempts++;
    setTimeout(() => {
      if (!stopped && ws === null) connect();
    }, delay);
  };
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
    if (e instanceof ApiError && e.status === 401) return markUnauthorized(e.message);
    // The server is not answering yet: try again like a dropped socket would.
    set({ conn: 'reconnecting' });
    setTimeout(() => void start(), 2000);
    return;
  }
  refreshSecrets();
}

export function markUnauthorized(message = 'your token is no longer valid'): void {
  disconnect();
  set({ auth: 'invalid', authMessage: message, conn: 'offline' });
}
