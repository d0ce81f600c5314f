// The events of each batch as it lands on the panel, newest first, and the one line an event is
// shown as (also in an agent's drill-down).
import { useState } from 'preact/hooks';
import { type FleetLiveEvent, fleet } from '../fleet-store.js';
import { time } from '../format.js';
import { Name, Panel } from '../ui.js';

/**
 * A message with its names kept whole: a word holding a separator (`gpt-4o-mini`, `ci-runner/lg-1`,
 * `api.openai.com`) moves to the next line as one piece, where a browser would break it after a
 * hyphen (`gpt-4o-` / `mini`).
 */
function Words({ text }: { text: string }) {
  const parts = text.split(/(\s+)/);
  return <>{parts.map((w, i) => (/[-_./:]/.test(w) && w.length > 1 ? <Name key={i} text={w} /> : w))}</>;
}

export function EventLine({ e, showAgent }: { e: FleetLiveEvent; showAgent: boolean }) {
  return (
    <li class={`fleet-event sev-${e.severity}`}>
      <span class="row-time">{time(e.ts)}</span>
      <span class={`sev sev-${e.severity}`}>{e.severity.toUpperCase().slice(0, 5)}</span>
      <span class="row-msg">
        {showAgent && (
          <span class="muted">
            <Name text={e.runtime} />
            {e.agentId && (
              <>
                /<Name text={e.agentId} />
              </>
            )}{' '}
          </span>
        )}
        <Words text={e.message} />
      </span>
    </li>
  );
}

export function LivePanel() {
  const [limit, setLimit] = useState(20);
  const live = fleet.live;
  return (
    <Panel title="Live" id="fleet-live" actions={<span class="muted small">events as batches land</span>}>
      {live.length === 0 ? (
        <p class="muted" data-testid="fleet-live-empty">
          {fleet.liveLoaded ? 'No runtime has reported an event yet: they show here as they land.' : 'Loading the latest events…'}
        </p>
      ) : (
        <ul class="fleet-events" data-testid="fleet-live">
          {live.slice(0, limit).map((e) => (
            <EventLine key={`${e.runtime}/${e.seq}`} e={e} showAgent />
          ))}
        </ul>
      )}
      {live.length > limit && (
        <button type="button" class="btn small" onClick={() => setLimit(live.length)}>
          Show {live.length - limit} more
        </button>
      )}
    </Panel>
  );
}
