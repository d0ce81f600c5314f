import type { ChildProcess } from 'node:child_process';
import { Server } from 'node:net';

// The sandbox's bridge: how the agent, in a network of its own with only loopback, reaches the
// cage at 127.0.0.1:<the cage's port> as if nothing stood between them.
//
// A short Perl program inside the sandbox, before the agent runs, makes a TCP listener on
// 127.0.0.1:<port> of the sandbox's own loopback and sends its descriptor out over the IPC channel
// bwrap was started with (Node's `'ipc'` stdio), then exits. The cage listens on it like on any
// socket of its own: each connection the agent opens is the kernel's, accepted by the cage's
// server directly, with nothing copying bytes in between and no process per connection. A socket
// stays in the network it was made in, so it had to be made inside; nothing else crosses: the
// sandbox holds no socket, path or descriptor of the cage's, and the channel is closed once the
// listener has come through it (and closed in the launcher before the agent runs).
//
// Why Perl: Node receives a descriptor only over its own IPC channel, as a message of the
// channel's protocol with the descriptor beside it (SCM_RIGHTS), which takes `sendmsg(2)`. A Node
// helper starts in ~60-100 ms here (the whole agent-start budget is 50); Perl (perl-base, part of
// every Debian and Ubuntu) starts in ~2, has socket, bind and listen as builtins and reaches
// `sendmsg` through its `syscall` builtin. The message is the one Node's `subprocess.send(
// message, server)` writes (lib/internal/child_process.js: `NODE_HANDLE`, type `net.Server`); the
// receiving side is Node's own (`'message'`, the server already listening on the descriptor).

/** The descriptor the bridge's channel is at inside the sandbox (after the lifeline, bwrap's info and the seccomp program). */
export const CHANNEL_FD = 6;

/** What the bridge says with the listener, so nothing else is taken for it. */
const MARK = 'iron-cage bridge';

/**
 * `sendmsg`'s number on the architectures the bridge is written for (the seccomp filter's):
 * x86-64's arch/x86/entry/syscalls/syscall_64.tbl, arm64's include/uapi/asm-generic/unistd.h
 * (test/sandbox/seccomp.test.ts reads both from the kernel's headers). Both are LP64, so the
 * structures below have one layout.
 */
export const SENDMSG: Readonly<Record<string, number>> = { x64: 46, arm64: 211 };

/**
 * The Perl program, run as `perl -e PROGRAM <port> <sendmsg's number> <channel fd>`: Perl's own
 * builtins only (its `Socket` module would cost ~7 ms of the start), the constants as Linux numbers
 * them on both architectures (AF_INET 2, SOCK_STREAM 1, SOL_SOCKET 1, SCM_RIGHTS 1). The
 * structures, as LP64 Linux lays them out:
 *   struct sockaddr_in { u16 family; u16 port (network order); u8 addr[4]; u8 zero[8]; }: `Sna4x8`
 *   struct cmsghdr { size_t len; int level; int type; } + one int, padded to 8: `QiiiI`, len 20
 *   struct iovec   { void *base; size_t len; }: `PQ`
 *   struct msghdr  { void *name; socklen_t namelen; (4 pad) struct iovec *iov; size_t iovlen;
 *                    void *control; size_t controllen; int flags; (4 pad) }: `PLx4PQPQix4`
 * (`P` is a pointer to the bytes of a Perl string that lives until the call returns). No single
 * quote in it: the launcher quotes it with them.
 */
const PROGRAM = [
  'my ($port, $nr, $ch) = @ARGV;',
  'socket(my $l, 2, 1, 0) or die qq(socket: $!\\n);',
  'bind($l, pack(q(Sna4x8), 2, $port, pack(q(C4), 127, 0, 0, 1))) or die qq(bind 127.0.0.1:$port: $!\\n);',
  'listen($l, 511) or die qq(listen: $!\\n);',
  `my $msg = qq({"cmd":"NODE_HANDLE","type":"net.Server","msg":"${MARK}"}\\n);`,
  'my $ctl = pack(q(QiiiI), 20, 1, 1, fileno($l), 0);',
  'my $iov = pack(q(PQ), $msg, length $msg);',
  'my $hdr = pack(q(PLx4PQPQix4), undef, 0, $iov, 1, $ctl, length $ctl, 0);',
  'syscall($nr, $ch + 0, $hdr, 0) == length $msg or die qq(sendmsg: $!\\n);',
].join(' ');

/** The launcher's exit code when the bridge did not come up. */
export const BRIDGE_FAILED = 70;
/** What the launcher says then (SandboxProcess reads it back). */
export const BRIDGE_FAILED_LINE = 'iron-cage sandbox: the bridge to the cage did not start';

/**
 * The launcher's lines (POSIX sh) that make the bridge, then close its channel and forget its
 * variables, so the agent holds nothing of it. Perl runs with its own variables unset (a
 * `PERL5OPT` or `PERL5LIB` of the user's is the agent's, not the bridge's) and the C locale.
 */
export function bridgeLines(perl: string, port: number, arch: string = process.arch): string[] {
  const nr = SENDMSG[arch];
  if (nr === undefined) throw new Error(`the sandbox's bridge is written for x64 and arm64, not ${arch}`);
  return [
    `(unset PERL5OPT PERL5LIB PERLLIB PERLIO PERL_UNICODE; export LC_ALL=C; exec ${perl} -e '${PROGRAM}' ${port} ${nr} ${CHANNEL_FD}) || { echo '${BRIDGE_FAILED_LINE}' >&2; exit ${BRIDGE_FAILED}; }`,
    `exec ${CHANNEL_FD}>&-`,
    'unset NODE_CHANNEL_FD NODE_CHANNEL_SERIALIZATION_MODE',
  ];
}

/**
 * The listener the bridge of `child` (spawned with `'ipc'` at CHANNEL_FD) sends, once it is
 * checked to be a TCP listener on 127.0.0.1:`port`; null when the sandbox ended or closed the
 * channel first, or sent anything else (closed here). The channel is closed on the first message.
 *
 * @example
 *   const listener = await bridgeListener(child, 8080);
 *   listener?.on('connection', (s) => server.emit('connection', s));
 */
export function bridgeListener(child: ChildProcess, port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (server: Server | null) => {
      child.off('message', onMessage);
      if (child.connected) child.disconnect();
      if (settled) {
        server?.close();
        return;
      }
      settled = true;
      resolve(server);
    };
    const onMessage = (message: unknown, handle: unknown) => {
      const server = handle instanceof Server ? handle : null;
      const at = server?.address();
      const ok = message === MARK && at !== null && typeof at === 'object' && at.address === '127.0.0.1' && at.port === port;
      if (!ok) server?.close();
      settle(ok ? server : null);
    };
    child.on('message', onMessage);
    child.once('disconnect', () => settle(null));
    child.once('exit', () => settle(null));
  });
}
