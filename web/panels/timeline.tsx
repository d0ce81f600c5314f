// The run as a waterfall on one time axis. Rows have one fixed height and only the visible
// ones (plus a few) are in the DOM, so a window of 900 items scrolls like one of 20; pages come
// from the server by cursor as the reader nears either end (timeline.ts). Above it, the whole
// run as a strip of buckets and marks: a click there jumps to that time.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { count, duration, money, ms as millis, time } from '../format.js';
import { type TimelineState, useStore } from '../store.js';
import { barMs, jumpTimeline, liveTimeline, loadAfter, loadBefore, selectItem, setFollowing, waiting } from '../timeline.js';
import type { Agent, TimelineItem, TimelineOverview } from '../types.js';
import { Panel, useNow } from '../ui.js';

export const TIMELINE_READY = 'iron-cage:timeline-ready';
/** One row, in CSS pixels: fixed, so the visible rows are found by arithmetic. */
export const ROW = 26;
/** Rows drawn above and below the visible ones, so a quick scroll shows no blank. */
const OVERSCAN = 10;
/** Rows from either end at which the next page is asked for. */
const NEAR = 40;
/** A click this close to the overview strip's right end goes to the live end. */
const LIVE_EDGE_PX = 8;

const LANE: Record<TimelineItem['lane'], string> = {
  llm: 'LLM',
  tool: 'Tool',
  pii: 'PII',
  injection: 'Injection',
  lifecycle: 'Agent',
  budget: 'Budget',
  progress: 'Step',
  watch: 'Watch',
  breaker: 'Circuit',
  approval: 'Approval',
};

const iso = (ms: number) => new Date(ms).toISOString();

export function TimelinePanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  const t = s.timeline;
  const box = useRef<HTMLElement>(null);
  const anchor = useRef<{ key: string; offset: number } | null>(null);
  const [view, setView] = useState({ top: 0, height: 0 });
  const items = t.agentId === agent?.id ? t.items : [];
  /** The window reaches the live end: nothing later yet. */
  const atEnd = t.chunks.at(-1)?.after === null;

  // For the benchmark: the first page on screen.
  useLayoutEffect(() => {
    if (t.ready && performance.getEntriesByName(TIMELINE_READY).length === 0) performance.mark(TIMELINE_READY);
  }, [t.ready]);

  // A new window (a page came, a jump): land on what was asked, else stay at the live end,
  // else keep the row the reader was looking at where it was.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (t.reveal) {
      const i = items.findIndex((x) => x.key === t.reveal);
      // Said once: the next render scrolls freely again.
      s.timeline.reveal = null;
      if (i >= 0) el.scrollTop = Math.max(0, i * ROW - el.clientHeight / 3);
    } else if (t.following) el.scrollTop = el.scrollHeight;
    else if (anchor.current) {
      const i = items.findIndex((x) => x.key === anchor.current!.key);
      if (i >= 0) el.scrollTop = i * ROW + anchor.current.offset;
    }
    if (el.scrollTop !== view.top || el.clientHeight !== view.height) setView({ top: el.scrollTop, height: el.clientHeight });
    // Following is where the view is, not how it got there: a view already at the bottom (the
    // window shorter than the box, a jump that landed there, a page that brought nothing new)
    // fires no scroll event when scrolled down, yet it is at the live end once the window reaches it.
    if (!t.following && t.ready && !t.busy && atEnd && el.scrollHeight - el.scrollTop - el.clientHeight < ROW / 2) setFollowing(true);
  }, [items, t.reveal, t.following, t.busy, atEnd]);

  const onScroll = () => {
    const el = box.current!;
    const top = el.scrollTop;
    setView({ top, height: el.clientHeight });
    const i = Math.min(items.length - 1, Math.floor(top / ROW));
    anchor.current = i >= 0 ? { key: items[i]!.key, offset: top - i * ROW } : null;
    const below = el.scrollHeight - top - el.clientHeight;
    if (top < NEAR * ROW) loadBefore();
    if (below < NEAR * ROW) loadAfter();
    setFollowing(below < ROW / 2);
  };

  const first = Math.max(0, Math.floor(view.top / ROW) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((view.top + (view.height || 600)) / ROW) + OVERSCAN);
  const shown = items.slice(first, last);
  // The axis spans the rows in view: a minute-long window shows its seconds, an hour its minutes.
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  const now = Date.now();
  for (const x of shown) {
    t0 = Math.min(t0, x.startMs);
    t1 = Math.max(t1, x.startMs + (barMs(x, now) ?? 0));
  }
  if (t1 - t0 < 1000) t1 = t0 + 1000;
  const span = t1 - t0;
  const lit = new Set(t.highlight);
  const selected = t.selected ? items.find((x) => x.key === t.selected) : undefined;

  return (
    <Panel
      title="Timeline"
      id="timeline"
      actions={
        <div class="tl-actions">
          {t.total && (
            <span class="muted small" data-testid="timeline-total">
              {count(t.total.llm)} LLM · {count(t.total.tool)} tool · {count(t.total.events)} events
            </span>
          )}
          {t.ready && !t.following && (
            <button type="button" class="btn small" data-testid="timeline-live" onClick={() => agent && liveTimeline(agent.id)} title="Back to the newest calls, following them live">
              Live end ↓
            </button>
          )}
        </div>
      }
    >
      {agent && t.overview && <Overview o={t.overview} from={items[0]?.startMs ?? null} to={items.at(-1)?.startMs ?? null} agentId={agent.id} />}
      <div class="tl-axis muted small" aria-hidden="true">
        <span>{shown.length > 0 ? time(iso(t0)) : ''}</span>
        <span>{shown.length > 0 ? `${duration(span)} in view` : ''}</span>
        <span>{shown.length > 0 ? time(iso(t1)) : ''}</span>
      </div>
      <section
        class="tl-scroll"
        ref={box}
        onScroll={onScroll}
        data-testid="timeline"
        data-scroll-region="timeline"
        data-following={String(t.following)}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so the keyboard can scroll it
        tabIndex={0}
        aria-label="Timeline, oldest first"
      >
        <div class="tl-space" style={{ height: `${items.length * ROW}px` }}>
          {shown.map((x, k) => (
            <Row key={x.key} x={x} top={(first + k) * ROW} t0={t0} span={span} lit={lit.has(x.key)} selected={x.key === t.selected} />
          ))}
        </div>
        {!agent ? (
          <p class="tl-empty muted">Waiting for the agent…</p>
        ) : t.error ? (
          <p class="tl-empty error">The timeline could not be loaded: {t.error}</p>
        ) : !t.ready ? (
          <p class="tl-empty muted">Loading…</p>
        ) : items.length === 0 ? (
          <p class="tl-empty muted">Nothing yet: LLM and tool calls, PII findings, restarts and progress show here as they happen.</p>
        ) : null}
      </section>
      {t.busy && t.ready && <span class="sr-only">Loading more of the timeline</span>}
      {t.note && (
        <p class="notice" data-testid="timeline-note">
          {t.note}
        </p>
      )}
      {selected && <Detail x={selected} t={t} />}
    </Panel>
  );
}

function Row({ x, top, t0, span, lit, selected }: { x: TimelineItem; top: number; t0: number; span: number; lit: boolean; selected: boolean }) {
  const left = ((x.startMs - t0) / span) * 100;
  const cls = `tl-row lane-${x.lane} st-${x.status}${lit ? ' lit' : ''}${selected ? ' picked' : ''}`;
  const took = x.durationMs !== null ? `, ${millis(x.durationMs)}` : waiting(x) ? `, waiting ${duration(barMs(x, Date.now())!)}` : '';
  const said = `${time(iso(x.startMs))} ${LANE[x.lane]}: ${x.title}${x.costUsd !== null ? `, ${money(x.costUsd)}` : ''}${took}`;
  return (
    <button
      type="button"
      class={cls}
      style={{ top: `${top}px` }}
      data-testid="tl-row"
      data-key={x.key}
      data-lane={x.lane}
      data-lit={String(lit)}
      aria-pressed={selected}
      title={said}
      onClick={() => selectItem(x.key)}
    >
      <span class="tl-label">
        <span class="tl-lane">{LANE[x.lane]}</span> {x.title}
      </span>
      <span class="tl-cost">{x.costUsd !== null ? money(x.costUsd) : ''}</span>
      <span class="tl-track">
        {waiting(x) ? <Waiting x={x} left={left} span={span} /> : x.durationMs === null ? <span class="tl-mark" style={{ left: `${left}%` }} /> : <Bar left={left} ms={x.durationMs} span={span} />}
      </span>
    </button>
  );
}

function Bar({ left, ms, span }: { left: number; ms: number; span: number }) {
  const width = Math.max(0.4, (ms / span) * 100);
  return <span class="tl-bar" style={{ left: `${Math.min(left, 99.6)}%`, width: `${Math.min(width, 100 - left)}%` }} />;
}

/** An approval still waiting: its bar runs on to now, each second (only this row re-renders). */
function Waiting({ x, left, span }: { x: TimelineItem; left: number; span: number }) {
  const now = useNow();
  return <Bar left={left} ms={barMs(x, now)!} span={span} />;
}

function Detail({ x, t }: { x: TimelineItem; t: TimelineState }) {
  const have = new Set(t.items.map((i) => i.key));
  const fields = Object.entries(x.detail).filter(([, v]) => v !== null && v !== '');
  return (
    <div class="tl-detail" data-testid="timeline-detail" data-key={x.key}>
      <div class="tl-detail-head">
        <strong>
          {LANE[x.lane]}: {x.title}
        </strong>
        <button type="button" class="toast-close" aria-label="Close the detail" onClick={() => selectItem(null)}>
          ×
        </button>
      </div>
      <dl class="tl-fields">
        <div>
          <dt>at</dt>
          <dd>{time(iso(x.startMs))}</dd>
        </div>
        {x.durationMs !== null && (
          <div>
            <dt>took</dt>
            <dd>{millis(x.durationMs)}</dd>
          </div>
        )}
        {x.costUsd !== null && (
          <div>
            <dt>cost</dt>
            <dd>{money(x.costUsd)}</dd>
          </div>
        )}
        <div>
          <dt>status</dt>
          <dd>{x.status}</dd>
        </div>
        {fields.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{String(v)}</dd>
          </div>
        ))}
      </dl>
      {x.links.length > 0 && (
        <p class="tl-links small">
          Linked ({count(x.links.length)}, highlighted):{' '}
          {x.links.slice(0, 12).map((k) =>
            have.has(k) ? (
              <button type="button" class="link" key={k} data-testid="tl-link" onClick={() => selectItem(k)}>
                {k}
              </button>
            ) : (
              <span key={k} class="muted">
                {k}
              </span>
            ),
          )}
          {x.links.length > 12 && <span class="muted"> +{count(x.links.length - 12)} more</span>}
        </p>
      )}
    </div>
  );
}

/** The whole run, downsampled by the server: calls per bucket as bars, errors on top, notable events as marks. */
function Overview({ o, from, to, agentId }: { o: TimelineOverview; from: number | null; to: number | null; agentId: string }) {
  const n = Math.max(1, o.buckets.length);
  const total = Math.max(1, o.endMs - o.startMs);
  const top = Math.max(1, ...o.buckets.map((b) => b.llm + b.tool));
  const at = (ms: number) => ((ms - o.startMs) / total) * n;
  const jump = (e: MouseEvent) => {
    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
    // The strip's right end is now. The strip is refetched at most every few seconds while the
    // run goes on, so where it ends may be seconds old (a burst of calls since): a click there
    // goes to the live end, followed, not to where the strip last ended.
    if (r.width > 0 && r.right - e.clientX <= LIVE_EDGE_PX) return liveTimeline(agentId);
    const frac = r.width > 0 ? Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)) : 1;
    jumpTimeline({ agentId, ms: o.startMs + frac * total });
  };
  return (
    <div class="tl-overview-wrap">
      <button type="button" class="tl-overview" data-testid="timeline-overview" aria-label="The whole run: click a time to show it in the timeline, its right end for the newest calls" onClick={jump}>
        <svg viewBox={`0 0 ${n} 32`} preserveAspectRatio="none" aria-hidden="true">
          {from !== null && to !== null && <rect class="ov-window" x={at(from)} width={Math.max(0.5, at(to) - at(from))} y="0" height="32" />}
          {o.buckets.map((b, i) => {
            const h = ((b.llm + b.tool) / top) * 28;
            const e = ((b.errors / top) * 28) | 0;
            return (
              <g key={b.startMs}>
                <rect class="ov-bar" x={i + 0.1} width="0.8" y={32 - h} height={h} />
                {e > 0 && <rect class="ov-err" x={i + 0.1} width="0.8" y={32 - e} height={e} />}
              </g>
            );
          })}
          {o.marks.map((m) => (
            <line key={m.key} class={`ov-mark sev-${m.severity}`} x1={at(m.ms)} x2={at(m.ms)} y1="0" y2="7" vector-effect="non-scaling-stroke" />
          ))}
        </svg>
      </button>
      <div class="tl-axis muted small" aria-hidden="true">
        <span>{time(iso(o.startMs))}</span>
        <span>whole run · {duration(total)}</span>
        <span>{time(iso(o.endMs))}</span>
      </div>
    </div>
  );
}
