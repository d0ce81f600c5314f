import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * A modal dialog on the native <dialog>: focus is kept inside, Escape closes it, and the page
 * behind is inert while it is open.
 *
 * @example
 *   {open && <Modal title="Add secret" onClose={() => setOpen(false)}>…</Modal>}
 */
export function Modal(p: { title: string; testid: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const close = () => p.onClose();
    d.addEventListener('close', close);
    return () => {
      d.removeEventListener('close', close);
      if (d.open) d.close();
    };
  }, []);
  return (
    <dialog ref={ref} class="modal" data-testid={p.testid} aria-labelledby={`${p.testid}-title`}>
      <h2 id={`${p.testid}-title`}>{p.title}</h2>
      {p.children}
    </dialog>
  );
}
