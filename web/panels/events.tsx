import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
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

/** #23: every event, newest at the bottom, live; pauses while the pointer is over it. */
export function EventLog() {
  const s = useStore();
  const [minSeverity, setMinSeverity] = useState<Severity>(DEFAULT_SEVERITY);
  const [type, setType] = useState('');
  const [agentId, setAgentId] = useState('');
  const [pausedAt, setPausedAt] = useState<number | null>(null);
  const [following, setFollowing] = useState(true);
  const [open, setOpen] = useState<number | null>(null);
  const [limit, setLimit] = useState(FIRST_ROWS);
  const box = useRef<HTMLOListElement>(null);

  const types = useMemo(() => [...new Set(s.events.map((e) => e.type))].sort(), [s.events]);
  const matches = (e: FeedEvent) => RANK[e.severity] >= RANK[minSeverity] && (!type || e.type === type) && (!agentId || e.agentId === agentId);
  const all = s.events.filter(matches);
  const upTo = pausedAt === null ? all : all.filter((e) => e.seq <= pausedAt);
  const shown = upTo.slice(-limit);
  const earlier = upTo.length - shown.length;
  const waiting = pausedAt === null ? 0 : all.length - all.filter((e) => e.seq <= pausedAt).length;

  // Follow the newest row unless the reader scrolled up or is pointing at the log.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && following && pausedAt === null) el.scrollTop = el.scrollHeight;
  });

  const onScroll = () => {
    const el = box.current!;
    setFollowing(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
  };
  const jump = () => {
    setPausedAt(null);
    setFollowing(true);
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
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
      {/* biome-ignore lint/a11y/noStaticElementInteractions: hovering only pauses the feed; the keyboard has Jump to latest */}
      <div class="log-wrap" onMouseEnter={() => setPausedAt(s.lastSeq)} onMouseLeave={() => setPausedAt(null)}>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so the keyboard can scroll it */}
        <ol class="log" data-testid="event-log" data-scroll-region="events" ref={box} onScroll={onScroll} aria-live="off" tabIndex={0} aria-label="Events, newest last">
          {earlier > 0 && (
            <li>
              <button type="button" class="btn small more" data-testid="log-more" onClick={() => setLimit(limit + MORE_ROWS)}>
                Show {Math.min(earlier, MORE_ROWS)} earlier ({earlier} hidden)
              </button>
            </li>
          )}
          {shown.map((e) => (
            <Row key={e.seq} e={e} showAgent={!agentId && s.agents.length > 1} open={open === e.seq} toggle={() => setOpen(open === e.seq ? null : e.seq)} />
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

function Row({ e, open, toggle, showAgent }: { e: FeedEvent; open: boolean; toggle: () => void; showAgent: boolean }) {
  return (
    <li class={`row sev-${e.severity}`} data-testid="event-row" data-seq={e.seq} data-ts={e.ts} data-severity={e.severity}>
      <button type="button" class="row-line" aria-expanded={open} onClick={toggle}>
        <span class="row-time">[{time(e.ts)}]</span> <span class={`sev sev-${e.severity}`}>{LABEL[e.severity]}</span> {showAgent && e.agentId && <span class="row-agent">{e.agentId}</span>}{' '}
        <span class="row-msg">{e.message}</span>
      </button>
      {open && <pre class="row-detail">{JSON.stringify(e, null, 2)}</pre>}
    </li>
  );
}
