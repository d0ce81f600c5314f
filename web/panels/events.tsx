import { Component } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { time } from '../format.js';
import { useStore } from '../store.js';
import type { FeedEvent, Severity } from '../types.js';
import { Panel } from '../ui.js';

/**
 * Rows in the DOM at first: the store keeps MAX_EVENTS and filters search all of them, but the log
 * lays out only the latest that match (enough to fill a projector), and more on request: a long
 * run opens as fast as a short one.
 */
const FIRST_ROWS = 80;
const MORE_ROWS = 200;
const RANK: Record<Severity, number> = { debug: 0, info: 1, warn: 2, error: 3, critical: 4 };
const LABEL: Record<Severity, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', critical: 'CRIT' };
/** INFO and up at first: every LLM call and checkpoint is a DEBUG row, and would fill the log. */
const DEFAULT_SEVERITY: Severity = 'info';
/** How close to the bottom counts as at the bottom (px). */
const AT_BOTTOM_PX = 24;
/** A scroll this soon after the reader touched the log (wheel, touch, key, pointer) is theirs. */
const USER_SCROLL_MS = 1000;

/**
 * Whether the log follows the newest row is the reader's choice, and only theirs: a scroll they
 * made away from the bottom stops it, reaching the bottom again (or Jump to latest) resumes it.
 * Nothing else turns it off: a resize, a theme switch, rows re-wrapping or the browser's scroll
 * anchoring move the scroll position without the reader, and the log pins the bottom again.
 *
 * @example
 *   followAfterScroll({ distance: 300, byReader: false, following: true }) // true: layout moved it, not the reader
 */
export function followAfterScroll(o: { distance: number; byReader: boolean; following: boolean }): boolean {
  if (o.distance < AT_BOTTOM_PX) return true;
  return o.byReader ? false : o.following;
}

/** Every event, newest at the bottom, live; pauses while the reader's pointer moves over it. */
export function EventLog() {
  const s = useStore();
  const [minSeverity, setMinSeverity] = useState<Severity>(DEFAULT_SEVERITY);
  const [type, setType] = useState('');
  const [agentId, setAgentId] = useState('');
  const [pausedAt, setPausedAt] = useState<number | null>(null);
  const [following, setFollowing] = useState(true);
  // The same choice, read by the observers below between renders.
  const follow = useRef(true);
  const touched = useRef(Number.NEGATIVE_INFINITY);
  const paused = useRef(false);
  paused.current = pausedAt !== null;
  const [open, setOpen] = useState<number | null>(null);
  // the same function every render, so that a row whose event and state did not change is not rendered again
  const toggle = useCallback((seq: number) => setOpen((o) => (o === seq ? null : seq)), []);
  const [limit, setLimit] = useState(FIRST_ROWS);
  const box = useRef<HTMLOListElement>(null);

  const types = useMemo(() => [...new Set(s.events.map((e) => e.type))].sort(), [s.events]);
  const matches = (e: FeedEvent) => RANK[e.severity] >= RANK[minSeverity] && (!type || e.type === type) && (!agentId || e.agentId === agentId);
  const all = s.events.filter(matches);
  const upTo = pausedAt === null ? all : all.filter((e) => e.seq <= pausedAt);
  const shown = upTo.slice(-limit);
  const earlier = upTo.length - shown.length;
  const waiting = pausedAt === null ? 0 : all.length - all.filter((e) => e.seq <= pausedAt).length;

  const pin = () => {
    const el = box.current;
    if (el && follow.current && !paused.current) el.scrollTop = el.scrollHeight;
  };
  const setFollow = (on: boolean) => {
    follow.current = on;
    setFollowing(on);
  };
  // Follow the newest row unless the reader scrolled up or is pointing at the log: after a render
  // that changed what the log holds, not after every render of the page (most events of a busy run
  // are below the severity shown, and reading the log's height lays the page out at once).
  const showAgent = !agentId && s.agents.length > 1;
  useLayoutEffect(pin, [shown.at(-1)?.seq, shown.length, earlier > 0, open, showAgent, following, pausedAt]);
  // A resize of the log (the window, the layout) or a theme switch re-wraps its rows: pin again.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const sized = new ResizeObserver(() => pin());
    sized.observe(el);
    const themed = new MutationObserver(() => requestAnimationFrame(pin));
    themed.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme', 'class', 'style'] });
    return () => {
      sized.disconnect();
      themed.disconnect();
    };
  }, []);

  const onScroll = () => {
    const el = box.current!;
    const byReader = performance.now() - touched.current < USER_SCROLL_MS;
    const next = followAfterScroll({ distance: el.scrollHeight - el.scrollTop - el.clientHeight, byReader, following: follow.current });
    if (next !== follow.current) setFollow(next);
    // Moved by layout (anchoring, rows re-wrapped), not by the reader: back to the bottom.
    else if (next) pin();
  };
  const touch = () => void (touched.current = performance.now());
  const jump = () => {
    setPausedAt(null);
    paused.current = false;
    setFollow(true);
    pin();
  };
  // Only a pointer the reader moves pauses the log: a layout that slides it under a resting one does not.
  const pointerMoved = (e: PointerEvent) => {
    if (pausedAt === null && e.pointerType === 'mouse' && (e.movementX !== 0 || e.movementY !== 0)) setPausedAt(s.lastSeq);
  };

  return (
    <Panel
      title="Event log"
      id="events"
      actions={
        <div class="filters">
          <label>
            <span class="sr-only">Minimum severity</span>
            <select data-testid="filter-severity" value={minSeverity} onChange={(e) => setMinSeverity((e.target as HTMLSelectElement).value as Severity)}>
              <option value="debug">All levels</option>
              <option value="info">Info and up</option>
              <option value="warn">Warnings and errors</option>
              <option value="error">Errors only</option>
            </select>
          </label>
          <label>
            <span class="sr-only">Event type</span>
            <select data-testid="filter-type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
              <option value="">All types</option>
              {types.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span class="sr-only">Agent</span>
            <select data-testid="filter-agent" value={agentId} onChange={(e) => setAgentId((e.target as HTMLSelectElement).value)}>
              <option value="">All agents</option>
              {s.agents.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.id}
                </option>
              ))}
            </select>
          </label>
        </div>
      }
    >
      {/* Moving the pointer over it pauses the feed (the keyboard has Jump to latest). */}
      <div class="log-wrap" onPointerMove={pointerMoved} onPointerLeave={() => setPausedAt(null)}>
        <ol
          class="log"
          data-testid="event-log"
          data-scroll-region="events"
          data-following={String(following)}
          ref={box}
          onScroll={onScroll}
          onWheel={touch}
          onTouchStart={touch}
          onTouchMove={touch}
          onKeyDown={touch}
          onPointerDown={touch}
          aria-live="off"
          // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so the keyboard can scroll it
          tabIndex={0}
          aria-label="Events, newest last"
        >
          {earlier > 0 && (
            <li>
              <button type="button" class="btn small more" data-testid="log-more" onClick={() => setLimit(limit + MORE_ROWS)}>
                Show {Math.min(earlier, MORE_ROWS)} earlier ({earlier} hidden)
              </button>
            </li>
          )}
          {shown.map((e) => (
            <Row key={e.seq} e={e} showAgent={showAgent} open={open === e.seq} toggle={toggle} />
          ))}
          {shown.length === 0 && <li class="muted small">No events{s.events.length > 0 ? ' match the filters' : ' yet'}.</li>}
        </ol>
        {(pausedAt !== null || !following) && (
          <div class="log-status">
            {pausedAt !== null && <span data-testid="log-paused">Paused{waiting > 0 ? ` · ${waiting} new` : ''}</span>}
            <button type="button" class="btn small" data-testid="jump-latest" onClick={jump}>
              Jump to latest ↓
            </button>
          </div>
        )}
      </div>
    </Panel>
  );
}

interface RowProps {
  e: FeedEvent;
  open: boolean;
  toggle: (seq: number) => void;
  showAgent: boolean;
}

/**
 * One event. Rendered again only when its event, its being open or the agent column changes: a
 * live run renders the log up to 20 times a second, and diffing its 80 rows each time was a third
 * of the page's script (Chromium's profile of the demo's dashboard, 2026-11-28).
 */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.e !== p.e || next.open !== p.open || next.showAgent !== p.showAgent || next.toggle !== p.toggle;
  }
  override render() {
    return <RowLine {...this.props} />;
  }
}

function RowLine({ e, open, toggle, showAgent }: RowProps) {
  return (
    <li class={`row sev-${e.severity}`} data-testid="event-row" data-seq={e.seq} data-ts={e.ts} data-severity={e.severity}>
      <button type="button" class="row-line" aria-expanded={open} onClick={() => toggle(e.seq)}>
        <span class="row-time">[{time(e.ts)}]</span> <span class={`sev sev-${e.severity}`}>{LABEL[e.severity]}</span> {showAgent && e.agentId && <span class="row-agent">{e.agentId}</span>}{' '}
        <span class="row-msg">{e.message}</span>
      </button>
      {open && <pre class="row-detail">{JSON.stringify(e, null, 2)}</pre>}
    </li>
  );
}
