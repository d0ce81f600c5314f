// The timeline's data: a window of at most ~3 pages of one agent's TimelineItems, paged by
// the server's cursors as the reader scrolls, following the live end while scrolled to the
// bottom, jumping to a time (the overview strip, a pop-up, a breaker row, the cost chart). The
// rows themselves are drawn by panels/timeline.tsx, only the visible ones.
import { api, ApiError } from './api.js';
import { type Chunk, emptyTimeline, set, state, type TimelineState } from './store.js';
import type { FeedEvent, TimelineItem, TimelineOverview, TimelinePage } from './types.js';

/** Items per page asked of the server. */
export const PAGE = 300;
/** The most items kept in the browser: about three pages; the far ones are dropped as the reader moves. */
export const MAX_ITEMS = PAGE * 3;
/** The live end is refetched at most this often while followed. */
const LIVE_GAP_MS = 500;
/** The overview strip is refetched at most this often while the run goes on. */
const OVERVIEW_GAP_MS = 5000;

const enc = encodeURIComponent;
/** Bumped by every reset and jump: an answer to an older request is dropped. */
let gen = 0;

function patch(p: Partial<TimelineState>): void {
  set({ timeline: { ...state.timeline, ...p } });
}

function flatten(chunks: Chunk[]): TimelineItem[] {
  return chunks.length === 1 ? chunks[0]!.items : chunks.flatMap((c) => c.items);
}

function withChunks(chunks: Chunk[], p: Partial<TimelineState> = {}): void {
  const kept = chunks.filter((c, i) => c.items.length > 0 || i === chunks.length - 1);
  patch({ chunks: kept, items: flatten(kept), ...p });
}

/**
 * How long an item's bar is: its duration, or for an approval still waiting, its wait until
 * `now` (its expiry at the most: past it the desk has closed it, and the page will hear so).
 */
export function barMs(x: TimelineItem, now: number): number | null {
  if (x.durationMs !== null || !waiting(x)) return x.durationMs;
  const until = typeof x.detail.expiresAt === 'string' ? Date.parse(x.detail.expiresAt) : now;
  return Math.max(0, Math.min(now, Number.isFinite(until) ? until : now) - x.startMs);
}

/** An approval of the approvals lane still waiting for a person: its bar runs on, and its row changes in place once decided. */
export function waiting(x: TimelineItem): boolean {
  return x.lane === 'approval' && x.durationMs === null;
}

async function page(agentId: string, query: string): Promise<TimelinePage> {
  return api<TimelinePage>(`/api/agents/${enc(agentId)}/timeline?${query}${query ? '&' : ''}limit=${PAGE}`);
}

function failed(e: unknown): void {
  if (e instanceof ApiError && e.status === 401) return;
  patch({ busy: null, error: e instanceof Error ? e.message : String(e) });
}

/** Show `agentId`'s timeline from its live end (once per agent: picking it again keeps where the reader was). */
export function openTimeline(agentId: string): void {
  if (state.timeline.agentId === agentId && (state.timeline.ready || state.timeline.busy)) return;
  set({ timeline: { ...emptyTimeline(agentId), busy: 'first' } });
  liveTimeline(agentId);
  loadOverview(agentId, true);
}

/** Back to the live end (the newest page), following it; what was selected stays selected. */
export function liveTimeline(agentId: string): void {
  const g = ++gen;
  page(agentId, '').then((p) => {
    if (g !== gen) return;
    withChunks([{ items: p.items, before: p.before, after: p.after, last: p.last }], { total: p.total, ready: true, busy: null, following: p.after === null, error: null, note: null });
  }, failed);
}

let overviewAt = Number.NEGATIVE_INFINITY;
let overviewTimer: ReturnType<typeof setTimeout> | null = null;

function loadOverview(agentId: string, now = false): void {
  if (overviewTimer) return;
  const wait = now ? 0 : overviewAt + OVERVIEW_GAP_MS - Date.now();
  overviewTimer = setTimeout(
    () => {
      overviewTimer = null;
      overviewAt = Date.now();
      api<TimelineOverview>(`/api/agents/${enc(agentId)}/timeline/overview`).then(
        (overview) => {
          if (state.timeline.agentId === agentId) patch({ overview });
        },
        (e) => {
          if (!(e instanceof ApiError && e.status === 401)) console.warn('timeline overview:', e instanceof Error ? e.message : e);
        },
      );
    },
    Math.max(0, wait),
  );
}

/** Page earlier than the first item kept; the far (latest) end is dropped past MAX_ITEMS. */
export function loadBefore(): void {
  const t = state.timeline;
  const first = t.chunks[0];
  if (!t.agentId || t.busy || !first || first.before === null) return;
  const g = gen;
  const agentId = t.agentId;
  patch({ busy: 'before' });
  page(agentId, `before=${enc(first.before)}`).then((p) => {
    if (g !== gen) return;
    const have = new Set(state.timeline.items.map((i) => i.key));
    const chunks = [{ items: p.items.filter((i) => !have.has(i.key)), before: p.before, after: undefined }, ...state.timeline.chunks];
    let n = chunks.reduce((s, c) => s + c.items.length, 0);
    let cut = false;
    while (n > MAX_ITEMS && chunks.length > 1) {
      n -= chunks.pop()!.items.length;
      cut = true;
    }
    // Something was cut from the end: the live end is no longer in the window (else a reader
    // following it, a window shorter than the view, goes on following).
    withChunks(chunks, { busy: null, following: state.timeline.following && !cut, total: p.total });
  }, failed);
}

/** Page later than the last item kept; the far (earliest) end is dropped past MAX_ITEMS. */
export function loadAfter(): void {
  const t = state.timeline;
  const last = t.chunks.at(-1);
  if (!t.agentId || t.busy || !last || last.after === null) return;
  const g = gen;
  const agentId = t.agentId;
  const lastItem = t.items.at(-1);
  // A chunk cut short has no cursor for its end: ask around its last item instead (the overlap is dropped).
  const query = last.after !== undefined ? `after=${enc(last.after)}` : lastItem ? `around=${lastItem.startMs}` : '';
  patch({ busy: 'after' });
  page(agentId, query).then((p) => {
    if (g !== gen) return;
    const have = new Set(state.timeline.items.map((i) => i.key));
    const fresh = p.items.filter((i) => !have.has(i.key) && (!lastItem || i.startMs >= lastItem.startMs));
    const chunks = [...state.timeline.chunks];
    // Nothing new: this is the live end for now.
    if (fresh.length === 0) {
      chunks[chunks.length - 1] = { ...chunks.at(-1)!, after: p.after === null || p.items.length === 0 ? null : p.after, last: p.last ?? chunks.at(-1)!.last ?? null };
      return withChunks(chunks, { busy: null, total: p.total });
    }
    chunks.push({ items: fresh, before: null, after: p.after, last: p.last });
    let n = chunks.reduce((s, c) => s + c.items.length, 0);
    while (n > MAX_ITEMS && chunks.length > 1) n -= chunks.shift()!.items.length;
    withChunks(chunks, { busy: null, total: p.total });
  }, failed);
}

let liveRunning = false;
let liveAgain = false;
let liveAt = Number.NEGATIVE_INFINITY;
let liveTimer: ReturnType<typeof setTimeout> | null = null;

/** Events that add a row to the timeline (llm.request → `llm:<id>`, progress, budget, watch…); tool calls come with progress. */
function addsRow(ev: FeedEvent): boolean {
  const t = ev.type;
  return t !== 'agent.output' && !t.startsWith('debug') && !t.startsWith('auth.') && !t.startsWith('secret.') && !t.startsWith('alert.');
}

/** A live event of the shown agent: refetch the live end (throttled) while the reader follows it. */
export function timelineEvent(ev: FeedEvent): void {
  const t = state.timeline;
  if (!t.agentId || ev.agentId !== t.agentId || !t.ready || !addsRow(ev)) return;
  loadOverview(t.agentId);
  if (!t.following) return;
  if (liveRunning) return void (liveAgain = true);
  if (liveTimer) return;
  liveTimer = setTimeout(
    () => {
      liveTimer = null;
      void liveEnd();
    },
    Math.max(0, liveAt + LIVE_GAP_MS - Date.now()),
  );
}

async function liveEnd(): Promise<void> {
  const t = state.timeline;
  if (!t.agentId || !t.following) return;
  // A page is on its way: ask again once it is in (dropping it would leave the live end stale).
  if (t.busy) return void setTimeout(() => timelineEvent({ agentId: t.agentId, type: 'agent.progress' } as FeedEvent), LIVE_GAP_MS);
  const g = gen;
  liveRunning = true;
  liveAt = Date.now();
  try {
    // What came since the newest item kept (one seek on the server), unless a stream or an
    // approval still shown open may have settled since (its row changes in place) or more came
    // than a page: then the newest page, merged.
    const end = t.chunks.at(-1);
    const since = end?.after === null ? (end.last ?? null) : null;
    const open = t.items.some((i) => (i.lane === 'llm' && i.durationMs === null) || waiting(i));
    if (since !== null && !open) {
      const more = await page(t.agentId, `after=${enc(since)}`);
      if (g !== gen || !state.timeline.following) return;
      if (more.items.length < PAGE) return appendLive(more);
    }
    const p = await page(t.agentId, '');
    if (g !== gen || !state.timeline.following) return;
    mergeLive(p);
  } catch (e) {
    failed(e);
  } finally {
    liveRunning = false;
    if (liveAgain) {
      liveAgain = false;
      timelineEvent({ agentId: state.timeline.agentId, type: 'agent.progress' } as FeedEvent);
    }
  }
}

/** What came after the newest item kept, onto the end of the window (the oldest dropped past MAX_ITEMS). */
function appendLive(p: TimelinePage): void {
  const t = state.timeline;
  const have = new Set(t.items.map((i) => i.key));
  const fresh = p.items.filter((i) => !have.has(i.key));
  if (fresh.length === 0) return void (p.total.events !== t.total?.events || p.total.llm !== t.total?.llm || p.total.tool !== t.total?.tool ? patch({ total: p.total }) : undefined);
  const chunks = [...t.chunks];
  const end = chunks.at(-1);
  const last = p.last ?? end?.last ?? null;
  // Shown by start, as the server orders a page (a call that ended now may have begun before the
  // rows above it; the sort is stable: of two that began together, the one written first stays first).
  const items = end ? [...end.items, ...fresh].sort((a, b) => a.startMs - b.startMs) : fresh;
  chunks[chunks.length - 1] = end ? { ...end, items, after: p.after, last } : { items, before: p.before, after: p.after, last };
  let n = chunks.reduce((s, c) => s + c.items.length, 0);
  while (n > MAX_ITEMS && chunks.length > 1) n -= chunks.shift()!.items.length;
  // One chunk longer than MAX_ITEMS: its oldest items go (paging back brings them again first).
  if (n > MAX_ITEMS) chunks[0] = { ...chunks[0]!, items: chunks[0]!.items.slice(n - MAX_ITEMS) };
  withChunks(chunks, { total: p.total });
}

/** The latest page into the window: the part it repeats is cut from the chunk it overlaps. */
function mergeLive(p: TimelinePage): void {
  const fresh: Chunk = { items: p.items, before: p.before, after: p.after, last: p.last };
  const chunks = state.timeline.chunks;
  const head = p.items[0];
  const c = head ? chunks.findIndex((ch) => ch.items.some((i) => i.key === head.key)) : -1;
  let next: Chunk[];
  if (!head || p.before === null || c < 0) next = [fresh];
  else {
    const cut = chunks[c]!.items.findIndex((i) => i.key === head.key);
    next = [...chunks.slice(0, c), { ...chunks[c]!, items: chunks[c]!.items.slice(0, cut), after: undefined }, fresh];
  }
  let n = next.reduce((s, ch) => s + ch.items.length, 0);
  while (n > MAX_ITEMS && next.length > 1) n -= next.shift()!.items.length;
  withChunks(next, { total: p.total });
}

/**
 * The reader is at the bottom of the window (or away from it): at the bottom of a window that
 * reaches the live end, it is followed. Said on each scroll, and by the panel whenever the
 * window changes (a view already at the bottom fires no scroll event).
 */
export function setFollowing(following: boolean): void {
  const t = state.timeline;
  const can = following && t.chunks.at(-1)?.after === null;
  if (can !== t.following) patch({ following: can });
  if (can && t.agentId) timelineEvent({ agentId: t.agentId, type: 'agent.progress' } as FeedEvent);
}

/** Open an item's detail and highlight what it links to (and what links to it). */
export function selectItem(key: string | null): void {
  if (key === null || key === state.timeline.selected) return patch({ selected: null, highlight: [] });
  const item = state.timeline.items.find((i) => i.key === key);
  const back = state.timeline.items.filter((i) => i.links.includes(key)).map((i) => i.key);
  patch({ selected: key, highlight: [...(item?.links ?? []), ...back], note: null });
}

export interface Jump {
  agentId: string;
  /** Around this time (epoch ms). */
  ms: number;
  /** Select this item (its detail opens, its links light up) and scroll to the first of its links. */
  key?: string;
  /** Or: highlight the items this picks from the page that came. */
  pick?: (items: TimelineItem[]) => string[];
  /** What to say when the page holds nothing to land on. */
  missing?: string;
}

/**
 * Land the timeline on a time, and on the items a pop-up, a breaker row or a cost spike is
 * about; the timeline scrolls into view.
 *
 * @example
 *   jumpTimeline({ agentId, ms: Date.parse(ev.ts), key: `ev:${ev.seq}` });
 */
export function jumpTimeline(j: Jump): void {
  const g = ++gen;
  const keep = state.timeline.agentId === j.agentId ? state.timeline : emptyTimeline(j.agentId);
  set({ timeline: { ...keep, agentId: j.agentId, busy: 'jump', following: false, note: null } });
  // A strip to jump from is refreshed too (at its usual pace): the run may have gone on.
  loadOverview(j.agentId, keep !== state.timeline || !keep.overview);
  document.querySelector('.panel-timeline')?.scrollIntoView({ block: 'start', behavior: 'smooth' });
  page(j.agentId, `around=${Math.round(j.ms)}`).then((p) => {
    if (g !== gen) return;
    const item = j.key ? p.items.find((i) => i.key === j.key) : undefined;
    const picked = j.pick ? j.pick(p.items) : [];
    const links = item ? [...item.links, ...p.items.filter((i) => i.links.includes(item.key)).map((i) => i.key)] : [];
    const have = new Set(p.items.map((i) => i.key));
    const highlight = [...links, ...picked];
    const landing = highlight.find((k) => have.has(k)) ?? item?.key ?? p.items.find((i) => i.startMs >= j.ms)?.key ?? p.items.at(-1)?.key ?? null;
    const found = item !== undefined || picked.length > 0 || (!j.key && !j.pick);
    withChunks([{ items: p.items, before: p.before, after: p.after, last: p.last }], {
      total: p.total,
      ready: true,
      busy: null,
      error: null,
      following: false,
      selected: item?.key ?? null,
      highlight,
      reveal: landing,
      note: found ? null : (j.missing ?? 'Nothing of it in the timeline around that time.'),
    });
  }, failed);
}
