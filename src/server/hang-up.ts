import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// Whether the caller of a request is still there, read from its connection, for the paths that
// hold or work on a call before answering it (the pause gate, the LLM gateway, the tool proxy).
//
// How a hang-up shows on a request, in Node 20 (measured; test/watch/gate.test.ts drives each):
// - the socket closed or reset: the socket's 'close'; the response's 'close' too, except for a
//   pipelined request queued behind another (its response is not the socket's yet)
// - a half-close (FIN after the request): the socket's 'end', then Node closes it (the
//   server does not keep half-open connections)
// - none of these while the socket is not read: Node stops reading once a handler leaves more
//   than about 16 KB of body unread, and a FIN or RST behind it is then seen only when the body
//   is; a call held with its body unread must have it read (`readBodyAhead` in io.ts)

/** Listeners on one socket for every request of its (keep-alive, pipelined) that watches it: one pair per socket. */
const watching = new WeakMap<Socket, Set<() => void>>();

/**
 * The caller is gone: its connection was closed or reset, or it half-closed it (a FIN read as
 * a hang-up, as nginx's 499 reads it: the answer may never be read).
 *
 * @example
 *   if (clientGone(req, res)) throw new GaveUpAtGateError(agentId);
 */
export function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  const s = req.socket;
  return res.destroyed || s.destroyed || s.readableEnded || !s.writable;
}

/**
 * Call `fn` once when the caller hangs up before its answer is finished (at once if it already
 * has); the returned function stops watching. However many requests of one connection watch
 * it, the socket carries one listener pair.
 *
 * @example
 *   const client = new AbortController();
 *   const off = onHangUp(req, res, () => client.abort());
 *   try { await work(client.signal); } finally { off(); }
 */
export function onHangUp(req: IncomingMessage, res: ServerResponse, fn: () => void): () => void {
  const s = req.socket;
  let live = true;
  const onClose = (): void => {
    if (!res.writableFinished) fire();
  };
  const off = (): void => {
    if (!live) return;
    live = false;
    res.off('close', onClose);
    const fns = watching.get(s);
    fns?.delete(fire);
    if (fns?.size === 0) unwatch(s, fns);
  };
  const fire = (): void => {
    if (!live) return;
    off();
    fn();
  };
  if (clientGone(req, res)) {
    fire();
    return off;
  }
  res.on('close', onClose);
  let fns = watching.get(s);
  if (fns === undefined) {
    const set = new Set<() => void>();
    fns = set;
    watching.set(s, set);
    const gone = (): void => {
      // Each caller's own `fire` takes itself out of the set.
      for (const f of [...set]) f();
    };
    listeners.set(set, gone);
    s.on('end', gone);
    s.on('close', gone);
  }
  fns.add(fire);
  return off;
}

const listeners = new WeakMap<Set<() => void>, () => void>();

function unwatch(s: Socket, fns: Set<() => void>): void {
  const gone = listeners.get(fns);
  watching.delete(s);
  if (gone === undefined) return;
  s.off('end', gone);
  s.off('close', gone);
}
