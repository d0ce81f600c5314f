import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Availability } from './actions.js';

/**
 * A button for an action with an effect (money, security, a running agent): enabled only while
 * `when` (derived from the live store, see actions.ts) says the action still applies, and off
 * while its request is in flight, so neither a stale view nor a double click acts twice. When it
 * is off for a reason, the reason is shown beside it. A refusal by the server is shown too.
 *
 * @example
 *   <ActionButton when={resetAvailability(b.service)} testid="breaker-reset" run={() => api(path, { method: 'POST' })}>Reset</ActionButton>
 */
export function ActionButton(p: {
  when: Availability;
  run: () => Promise<unknown>;
  testid: string;
  class?: string;
  title?: string;
  label?: string;
  children: ComponentChildren;
  /** After the request succeeded. */
  onDone?: () => void;
  /** Where a refusal goes; default: shown beside the button. */
  onError?: (e: unknown) => void;
  /** Told of a refusal as well, wherever it is shown (e.g. to refetch what a 409 says moved). */
  onRefused?: (e: unknown) => void;
  /** The reason it is off is shown by the caller, once for a group of buttons (it stays in the title). */
  quiet?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const click = async () => {
    if (busy || !p.when.ok) return;
    setBusy(true);
    setError(null);
    try {
      await p.run();
      p.onDone?.();
    } catch (e) {
      p.onRefused?.(e);
      if (p.onError) p.onError(e);
      else setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const off = busy || !p.when.ok;
  return (
    <>
      <button
        type="button"
        class={p.class ?? 'btn'}
        data-testid={p.testid}
        data-available={String(p.when.ok)}
        disabled={off}
        aria-busy={busy}
        title={p.when.ok ? p.title : p.when.reason}
        aria-label={p.label}
        onClick={() => void click()}
      >
        {p.children}
      </button>
      {!p.when.ok && !p.quiet && (
        <span class="action-reason small" data-testid={`${p.testid}-reason`}>
          {p.when.reason}
        </span>
      )}
      {error && (
        <span class="error small" role="alert" data-testid={`${p.testid}-error`}>
          {error}
        </span>
      )}
    </>
  );
}
