// The sandbox's seccomp filter: a classic-BPF program that bwrap loads (`--seccomp FD`, an array of
// `struct sock_filter` {u16 code; u8 jt; u8 jf; u32 k}, host byte order) just before it runs the
// agent. The agent keeps every call a Python or Node program makes; the calls that reach past the
// sandbox (other processes, mounts, namespaces) or into the kernel's rarely used, often attacked
// corners are refused with an errno, so the agent sees a failed call, never a crash. A call from
// another ABI (32-bit x86, x32, arm32) is a process killed: its numbers are not the ones below.
//
// Reading it: RULES is the whole policy, one row per call (or per call and argument test), each
// group with its reason. SYSCALLS gives the numbers; `seccompFilter` only translates.

/** The architectures the filter is written for, by Node's names. */
type Arch = 'x64' | 'arm64';

// errno values (the same on x86-64 and arm64: asm-generic/errno-base.h, asm-generic/errno.h).
const EPERM = 1;
const ENOSYS = 38;
const EPROTONOSUPPORT = 93;
const EAFNOSUPPORT = 97;

/**
 * Syscall numbers, [x86-64, arm64]; null where the call does not exist on that architecture.
 * x86-64 from the kernel's arch/x86/entry/syscalls/syscall_64.tbl, arm64 from the generic table
 * include/uapi/asm-generic/unistd.h, both as Linux 6.1's uapi headers ship them (Debian's
 * linux-libc-dev: /usr/include/x86_64-linux-gnu/asm/unistd_64.h, /usr/include/asm-generic/unistd.h).
 * Numbers are never reused, so a newer kernel keeps them.
 */
const SYSCALLS = {
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  pidfd_getfd: [438, 438],
  kcmp: [312, 272],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  open_tree: [428, 428],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  unshare: [272, 97],
  setns: [308, 268],
  clone: [56, 220],
  clone3: [435, 435],
  bpf: [321, 280],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  perf_event_open: [298, 241],
  userfaultfd: [323, 282],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  acct: [163, 89],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  syslog: [103, 116],
  vhangup: [153, 58],
  iopl: [172, null],
  ioperm: [173, null],
  lookup_dcookie: [212, 18],
  nfsservctl: [180, 42],
  uselib: [134, null],
  ustat: [136, null],
  sysfs: [139, null],
  _sysctl: [156, null],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  clock_adjtime: [305, 266],
  adjtimex: [159, 171],
  personality: [135, 92],
  socket: [41, 198],
  ioctl: [16, 29],
  chmod: [90, null],
  fchmod: [91, 52],
  fchmodat: [268, 53],
  // Linux 6.6, the same number in both tables (newer than the headers above).
  fchmodat2: [452, 452],
  open: [2, null],
  openat: [257, 56],
  creat: [85, null],
} as const satisfies Record<string, readonly [x64: number | null, arm64: number | null]>;

type Call = keyof typeof SYSCALLS;

/**
 * A test of one argument's low 32 bits (every argument tested here is an int or unsigned int to
 * the kernel, which ignores the high half: comparing 64 bits would let `cmd | 1 << 32` through).
 */
type Test = { arg: number; mask?: number } & ({ in: readonly number[] } | { notIn: readonly number[] } | { anyBit: number });

interface Rule {
  call: Call;
  errno: number;
  /** Refused only when every test holds; no tests: always. */
  when?: readonly Test[];
}

const always = (errno: number, calls: readonly Call[]): Rule[] => calls.map((call) => ({ call, errno }));

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_NEWTIME = 0x00000080;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const NETLINK_ROUTE = 0;
const SOCK_RAW = 3;
const SOCK_PACKET = 10;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const PER_LINUX = 0;
const PERSONALITY_QUERY = 0xffffffff;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

/** The policy, in order. A call no row refuses is allowed. */
const RULES: readonly Rule[] = [
  // Reading or steering another process (its memory, its descriptors).
  ...always(EPERM, ['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'kcmp']),
  // Changing what the filesystem looks like: the sandbox's view is bwrap's, not the agent's.
  ...always(EPERM, ['mount', 'umount2', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr']),
  // Leaving or making namespaces: a new user namespace hands back every capability inside it.
  ...always(EPERM, ['unshare', 'setns']),
  // (clone's flags are arg 0 on both; CLONE_NEWTIME lies in its exit-signal byte, where no signal number reaches 0x80.)
  { call: 'clone', errno: EPERM, when: [{ arg: 0, anyBit: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME }] },
  // clone3 keeps its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone (as Docker does).
  ...always(ENOSYS, ['clone3']),
  // The kernel's attack surface an agent never needs: BPF, keyrings, perf, userfaultfd, io_uring, file handles.
  ...always(EPERM, ['bpf', 'keyctl', 'add_key', 'request_key', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'open_by_handle_at', 'name_to_handle_at']),
  // The machine itself: kernels and modules, reboot, swap, accounting, quotas, the kernel log, ports, the terminal.
  ...always(EPERM, [
    'kexec_load',
    'kexec_file_load',
    'init_module',
    'finit_module',
    'delete_module',
    'reboot',
    'swapon',
    'swapoff',
    'acct',
    'quotactl',
    'quotactl_fd',
    'syslog',
    'vhangup',
    'iopl',
    'ioperm',
  ]),
  // Old or removed calls nothing current uses (some gone from the kernel, refused all the same).
  ...always(EPERM, ['lookup_dcookie', 'nfsservctl', 'uselib', 'ustat', 'sysfs', '_sysctl']),
  // The machine's clock.
  ...always(EPERM, ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex']),
  // personality: only Linux's own (0) and the query (0xffffffff), as Docker allows; the rest turn off ASLR and the like.
  { call: 'personality', errno: EPERM, when: [{ arg: 0, notIn: [PER_LINUX, PERSONALITY_QUERY] }] },
  // Sockets: Unix and IP; netlink for routing only (libc's getaddrinfo and getifaddrs ask it which addresses exist).
  { call: 'socket', errno: EAFNOSUPPORT, when: [{ arg: 0, notIn: [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK] }] },
  {
    call: 'socket',
    errno: EPROTONOSUPPORT,
    when: [
      { arg: 0, in: [AF_NETLINK] },
      { arg: 2, notIn: [NETLINK_ROUTE] },
    ],
  },
  // ... and over IP no raw or packet sockets (forged packets, sniffing).
  {
    call: 'socket',
    errno: EPERM,
    when: [
      { arg: 0, in: [AF_INET, AF_INET6] },
      { arg: 1, mask: 0xf, in: [SOCK_RAW, SOCK_PACKET] },
    ],
  },
  // Typing into the terminal iron-cage runs in (TIOCSTI) or the console's tricks (TIOCLINUX).
  { call: 'ioctl', errno: EPERM, when: [{ arg: 1, in: [TIOCSTI, TIOCLINUX] }] },
  // A set-user-ID or set-group-ID file: a cage run as root runs its agent as the host's uid 0,
  // whose setuid program left in the working folder is any local user's way to root. Refused in
  // a mode given to chmod or to a file's creation.
  { call: 'chmod', errno: EPERM, when: [{ arg: 1, anyBit: S_ISUID | S_ISGID }] },
  { call: 'fchmod', errno: EPERM, when: [{ arg: 1, anyBit: S_ISUID | S_ISGID }] },
  { call: 'fchmodat', errno: EPERM, when: [{ arg: 2, anyBit: S_ISUID | S_ISGID }] },
  { call: 'fchmodat2', errno: EPERM, when: [{ arg: 2, anyBit: S_ISUID | S_ISGID }] },
  { call: 'open', errno: EPERM, when: [{ arg: 2, anyBit: S_ISUID | S_ISGID }] },
  { call: 'openat', errno: EPERM, when: [{ arg: 3, anyBit: S_ISUID | S_ISGID }] },
  { call: 'creat', errno: EPERM, when: [{ arg: 1, anyBit: S_ISUID | S_ISGID }] },
];

/** Every call the filter refuses whatever its arguments (EPERM; clone3 ENOSYS), in the policy's order. */
export const DENIED: readonly string[] = [...new Set(RULES.filter((r) => !r.when).map((r) => r.call))];

/** The calls the filter refuses for some arguments only: clone with a namespace flag, personality, socket, ioctl. */
export const DENIED_BY_ARGUMENT: readonly string[] = [...new Set(RULES.filter((r) => r.when).map((r) => r.call))];

// ---- Classic BPF, as seccomp reads it --------------------------------------------------------

const AUDIT_ARCH: Record<Arch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };
/** x86-64's x32 ABI: the same arch, nr | 0x40000000, a second numbering the rows above would miss. */
const X32_SYSCALL_BIT = 0x40000000;

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = seccomp_data[k], 32 bits
const ALU_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;

/** struct seccomp_data: nr at 0, arch at 4, args from 16, 8 bytes each, low half first (both are little-endian). */
const NR_AT = 0;
const ARCH_AT = 4;
const argLow = (i: number) => 16 + 8 * i;

/** A jump target: an instruction index once placed. */
class Label {
  at = -1;
}
type Insn = { code: number; k: number; jt?: Label; jf?: Label };

/**
 * The program for `arch` (Node's names). Throws for any other architecture: the sandbox then runs
 * without a seccomp filter (its other walls stand) and says so.
 *
 * @example
 *   const fd = openSync(fileHoldingIt, 'r'); // bwrap --seccomp 3 …, with fd at stdio[3]
 */
export function seccompFilter(arch: string = process.arch): Buffer {
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`no seccomp filter for the ${arch} architecture (only x64 and arm64)`);
  const nrOf = (call: Call) => SYSCALLS[call][arch === 'x64' ? 0 : 1];
  const p: Insn[] = [];
  const place = (label: Label) => {
    label.at = p.length;
  };

  // Another ABI's numbers mean other calls: kill rather than read them as ours.
  const native = new Label();
  p.push({ code: LD_W_ABS, k: ARCH_AT }, { code: JEQ_K, k: AUDIT_ARCH[arch], jt: native }, { code: RET_K, k: RET_KILL_PROCESS });
  place(native);
  p.push({ code: LD_W_ABS, k: NR_AT });
  if (arch === 'x64') {
    const notX32 = new Label();
    p.push({ code: JSET_K, k: X32_SYSCALL_BIT, jf: notX32 }, { code: RET_K, k: RET_KILL_PROCESS });
    place(notX32);
  }

  // Each rule: A holds nr on entry and on leaving without a match.
  for (const rule of RULES) {
    const nr = nrOf(rule.call);
    if (nr === null) continue; // not on this architecture
    const next = new Label();
    const reload = new Label();
    p.push({ code: JEQ_K, k: nr, jf: next });
    for (const t of rule.when ?? []) {
      const holds = new Label();
      p.push({ code: LD_W_ABS, k: argLow(t.arg) });
      if (t.mask !== undefined) p.push({ code: ALU_AND_K, k: t.mask });
      if ('anyBit' in t) p.push({ code: JSET_K, k: t.anyBit, jf: reload });
      else if ('in' in t) for (const [i, v] of t.in.entries()) p.push({ code: JEQ_K, k: v, jt: holds, jf: i === t.in.length - 1 ? reload : undefined });
      else for (const v of t.notIn) p.push({ code: JEQ_K, k: v, jt: reload });
      place(holds);
    }
    p.push({ code: RET_K, k: RET_ERRNO | rule.errno });
    if (rule.when) {
      place(reload);
      p.push({ code: LD_W_ABS, k: NR_AT });
    }
    place(next);
  }
  p.push({ code: RET_K, k: RET_ALLOW });

  const out = Buffer.alloc(p.length * 8);
  p.forEach((x, i) => {
    const jump = (l: Label | undefined) => {
      if (!l) return 0;
      const off = l.at - (i + 1);
      if (l.at < 0 || off < 0 || off > 255) throw new Error(`seccomp: jump from ${i} to ${l.at} does not fit`);
      return off;
    };
    // Host byte order: little-endian on both architectures.
    const o = i * 8;
    out.writeUInt16LE(x.code, o);
    out.writeUInt8(jump(x.jt), o + 2);
    out.writeUInt8(jump(x.jf), o + 3);
    out.writeUInt32LE(x.k >>> 0, o + 4);
  });
  return out;
}
