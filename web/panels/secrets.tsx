import { useEffect, useRef, useState } from 'preact/hooks';
import { ActionButton } from '../action-button.js';
import { secretAvailability } from '../actions.js';
import { api } from '../api.js';
import { ago, when } from '../format.js';
import { Modal } from '../modal.js';
import { refreshSecrets } from '../refresh.js';
import { useStore } from '../store.js';
import type { RevealedSecret, Secret } from '../types.js';
import { TableHead } from '../table-head.js';
import { Name, Panel } from '../ui.js';

const enc = encodeURIComponent;
/** A revealed value goes back to its mask after this long. */
const REVEAL_MS = 30_000;

type Editing = { mode: 'add' } | { mode: 'edit' | 'rotate'; secret: Secret; value: string };

/** The vault's secrets, masked; admins reveal (audited), add, edit, rotate and delete. */
export function SecretsPanel() {
  const s = useStore();
  const admin = s.role === 'admin';
  const [editing, setEditing] = useState<Editing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const v = s.secrets;
  const startEdit = async (secret: Secret) => {
    // Edit shows the current value: that is a reveal, and the vault audits it as one.
    try {
      const r = await api<RevealedSecret>(`/api/secrets/${enc(secret.id)}?reveal=true`);
      // The version shown is the one read now: saving replaces that one, or is refused (409).
      setEditing({ mode: 'edit', secret: r, value: r.value ?? '' });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <Panel
      title="Secrets"
      id="secrets"
      actions={
        admin &&
        v.status === 'ok' && (
          <button type="button" class="btn" data-testid="secret-add" onClick={() => setEditing({ mode: 'add' })}>
            + Add
          </button>
        )
      }
    >
      <div data-testid="secrets-panel">
        {v.status === 'loading' && <p class="muted small">…</p>}
        {v.status === 'locked' && (
          <div class="notice" data-testid="vault-locked">
            <strong>🔒 The vault is locked.</strong>
            <p class="small">{v.message}.</p>
            <p class="small">
              Everything else runs without it; secrets need <code>IRON_CAGE_MASTER_KEY</code> when iron-cage starts.
            </p>
          </div>
        )}
        {(v.status === 'forbidden' || v.status === 'error') && <p class="muted small">{v.message}</p>}
        {v.status === 'ok' && (
          <table class="table secrets reflow">
            <TableHead cols={['Name', 'Env', 'Value', 'Updated', ...(admin ? [<span class="sr-only">Actions</span>] : [])]} />
            <tbody>
              {v.list.map((x) => (
                <SecretRow key={x.id} x={x} admin={admin} onEdit={() => void startEdit(x)} onRotate={() => setEditing({ mode: 'rotate', secret: x, value: '' })} onError={setError} />
              ))}
              {v.list.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted small">
                    No secrets yet{admin ? ': + Add, or ' : ': '}
                    <code>iron-cage secrets set NAME</code>
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        )}
        {error && (
          <p class="error small" role="alert">
            {error}
          </p>
        )}
      </div>
      {editing && <SecretForm editing={editing} onDone={() => setEditing(null)} />}
    </Panel>
  );
}

function SecretRow(p: { x: Secret; admin: boolean; onEdit: () => void; onRotate: () => void; onError: (m: string) => void }) {
  const { x, admin } = p;
  const [revealed, setRevealed] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const hideTimer = useRef<ReturnType<typeof setTimeout>>();
  useEffect(() => () => clearTimeout(hideTimer.current), []);
  // A reveal is audited: a double click while the first is on its way must not read (and log) it twice.
  const revealing = useRef(false);
  const reveal = async () => {
    clearTimeout(hideTimer.current);
    if (revealed !== null) return setRevealed(null);
    if (revealing.current) return;
    revealing.current = true;
    try {
      const r = await api<RevealedSecret>(`/api/secrets/${enc(x.id)}?reveal=true`);
      setRevealed(r.value ?? '');
      hideTimer.current = setTimeout(() => setRevealed(null), REVEAL_MS);
    } catch (e) {
      p.onError(e instanceof Error ? e.message : String(e));
    } finally {
      revealing.current = false;
    }
  };
  const remove = async () => {
    await api(`/api/secrets/${enc(x.id)}`, { method: 'DELETE' });
    refreshSecrets();
  };
  return (
    <tr data-testid="secret-row" data-name={x.name} data-env={x.environment}>
      <td class="cell-name" title={x.name}>
        <code>
          <Name text={x.name} />
        </code>
      </td>
      <td class="cell-env">
        <span class="chip">{x.environment}</span>
      </td>
      <td class="cell-value">
        <code class={revealed === null ? 'secret-value' : 'secret-value revealed'} data-testid="secret-value-shown">
          {revealed ?? x.maskedValue}
        </code>
      </td>
      <td class="small nowrap cell-updated" title={`created ${when(x.createdAt)}, updated ${when(x.updatedAt)}`}>
        {ago(x.updatedAt)}
      </td>
      {admin && (
        <td class="actions">
          {confirming ? (
            <>
              <ActionButton
                when={secretAvailability(x)}
                class="btn danger small"
                testid="confirm-delete"
                run={remove}
                onDone={() => setConfirming(false)}
                onError={(e) => {
                  p.onError(e instanceof Error ? e.message : String(e));
                  setConfirming(false);
                }}
              >
                Delete {x.name}?
              </ActionButton>
              <button type="button" class="btn small" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </>
          ) : (
            <>
              <button
                type="button"
                class="btn icon"
                data-testid="secret-reveal"
                aria-pressed={revealed !== null}
                title={revealed ? 'Hide' : 'Reveal (audited)'}
                aria-label={`${revealed ? 'Hide' : 'Reveal'} ${x.name}`}
                onClick={() => void reveal()}
              >
                👁
              </button>
              <button type="button" class="btn icon" data-testid="secret-edit" title="Edit" aria-label={`Edit ${x.name}`} onClick={p.onEdit}>
                ✏️
              </button>
              <button type="button" class="btn icon" data-testid="secret-rotate" title="Rotate: a new value, pushed to running agents" aria-label={`Rotate ${x.name}`} onClick={p.onRotate}>
                🔄
              </button>
              <button type="button" class="btn icon" data-testid="secret-delete" title="Delete" aria-label={`Delete ${x.name}`} onClick={() => setConfirming(true)}>
                🗑
              </button>
            </>
          )}
        </td>
      )}
    </tr>
  );
}

function SecretForm({ editing, onDone }: { editing: Editing; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The field is the user's: the panel re-renders on every event and must not put the old value back.
  const [value, setValue] = useState(editing.mode === 'edit' ? editing.value : '');
  const existing = editing.mode === 'add' ? null : editing.secret;
  const s = useStore();
  // Edit and rotate replace the version the dialog was opened on; once anyone changed or deleted
  // the secret since, Save is off (and the server would refuse it: expectedUpdatedAt).
  const when = existing ? secretAvailability(existing, s) : null;
  const title = editing.mode === 'add' ? 'Add secret' : editing.mode === 'edit' ? `Edit ${existing!.name}` : `Rotate ${existing!.name}`;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy || (when !== null && !when.ok)) return;
    const f = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      if (existing) await api(`/api/secrets/${enc(existing.id)}`, { method: 'PUT', body: { value, expectedUpdatedAt: existing.updatedAt } });
      else await api('/api/secrets', { method: 'POST', body: { name: String(f.get('name') ?? ''), environment: String(f.get('environment') || 'development'), value } });
      refreshSecrets();
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={title} testid="secret-modal" onClose={onDone}>
      <form onSubmit={submit} class="form">
        {existing ? (
          <p class="small">
            <code>{existing.name}</code> in <strong>{existing.environment}</strong>. Running agents get the new value at once (the SDK reloads it; others restart if configured).
          </p>
        ) : (
          <>
            <label>
              Name
              <input name="name" data-testid="secret-name" required maxLength={128} placeholder="OPENAI_API_KEY" autocomplete="off" />
            </label>
            <label>
              Environment
              <input name="environment" data-testid="secret-env" maxLength={64} placeholder="development" autocomplete="off" />
            </label>
          </>
        )}
        <label>
          {editing.mode === 'rotate' ? 'New value' : 'Value'}
          <textarea name="value" data-testid="secret-value" required rows={2} autocomplete="off" spellcheck={false} value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
        </label>
        {error && (
          <p class="error small" role="alert">
            {error}
          </p>
        )}
        {when && !when.ok && (
          <p class="action-reason small" data-testid="secret-save-reason">
            {when.reason}
          </p>
        )}
        <div class="form-actions">
          <button type="button" class="btn" onClick={onDone}>
            Cancel
          </button>
          <button type="submit" class="btn primary" data-testid="secret-save" data-available={String(when?.ok ?? true)} disabled={busy || (when !== null && !when.ok)}>
            {busy ? 'Saving…' : existing ? 'Save' : 'Add'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
