// The sandbox's seccomp filter: a classic-BPF program bwrap loads (`--seccomp FD`) before it runs
// the agent. It refuses the usual escape and kernel-attack calls with EPERM and lets the rest
// through. Syscall numbers from the kernel's tables as Debian ships them:
// /usr/include/x86_64-linux-gnu/asm/unistd_64.h (x64) and /usr/include/asm-generic/unistd.h (arm64).

type Arch = 'x64' | 'arm64';

/** Refused with EPERM, by group; each group's reason beside it. */
const DENIED_GROUPS: ReadonlyArray<[reason: string, names: readonly string[]]> = [
  ['reading or steering another process', ['ptrace', 'process_vm_readv', 'process_vm_writev']],
  ['changing what the filesystem looks like', ['mount', 'umount2', 'pivot_root', 'chroot', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr']],
  ['leaving or making namespaces', ['unshare', 'setns']],
  [
    'the kernel attack surface an agent never needs',
    ['bpf', 'keyctl', 'add_key', 'request_key', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'lookup_dcookie', 'open_by_handle_at', 'name_to_handle_at'],
  ],
  [
    'the machine itself',
    [
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
      'syslog',
      'vhangup',
      'iopl',
      'ioperm',
      'uselib',
      'ustat',
      'sysfs',
      '_sysctl',
    ],
  ],
  ["the machine's clock", ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex']],
];

/** Every call the filter refuses outright (clone with a namespace flag, raw sockets and terminal injection are refused by their arguments). */
export const DENIED: readonly string[] = DENIED_GROUPS.flatMap(([, names]) => names);

const NR: Record<Arch, Record<string, number>> = {
  x64: {
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    chroot: 161,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    unshare: 272,
    setns: 308,
    bpf: 321,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    perf_event_open: 298,
    userfaultfd: 323,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    lookup_dcookie: 212,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    reboot: 169,
    swapon: 167,
    swapoff: 168,
    acct: 163,
    quotactl: 179,
    syslog: 103,
    vhangup: 153,
    iopl: 172,
    ioperm: 173,
    uselib: 134,
    ustat: 136,
    sysfs: 139,
    _sysctl: 156,
    settimeofday: 164,
    clock_settime: 227,
    clock_adjtime: 305,
    adjtimex: 159,
    clone: 56,
    clone3: 435,
    socket: 41,
    ioctl: 16,
  },
  arm64: {
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    chroot: 51,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    unshare: 97,
    setns: 268,
    bpf: 280,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    perf_event_open: 241,
    userfaultfd: 282,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    lookup_dcookie: 18,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    reboot: 142,
    swapon: 224,
    swapoff: 225,
    acct: 89,
    quotactl: 60,
    syslog: 116,
    vhangup: 58,
    settimeofday: 170,
    clock_settime: 112,
    clock_adjtime: 266,
    adjtimex: 171,
    clone: 220,
    clone3: 435,
    socket: 198,
    ioctl: 29,
  },
};

const AUDIT_ARCH: Record<Arch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };

// Classic BPF, as seccomp reads it.
const LD_W_ABS = 0x20;
const JEQ = 0x15;
const JSET = 0x45;
const AND = 0x54;
const RET = 0x06;
const ALLOW = 0x7fff0000;
const KILL_PROCESS = 0x80000000;
const errno = (e: number) => 0x00050000 | e;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
/** seccomp_data: nr at 0, arch at 4, the arguments from 16, 8 bytes each (the low half first on these little-endian machines). */
const NR_AT = 0;
const ARCH_AT = 4;
const arg = (i: number) => 16 + 8 * i;

/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME. */
const CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_PACKET = 10;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

type Insn = [code: number, jt: number, jf: number, k: number];

/**
 * The program for `arch` (Node's names: x64, arm64). Throws for another architecture: the
 * sandbox then runs without a seccomp filter (its other walls stand) and says so.
 *
 * @example spawn('bwrap', ['--seccomp', '5', …], { stdio: [..., fdOf(seccompFilter())] })
 */
export function seccompFilter(arch: string = process.arch): Buffer {
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`no seccomp filter for the ${arch} architecture`);
  const nr = NR[arch];
  const p: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH_AT],
    [JEQ, 1, 0, AUDIT_ARCH[arch]],
    [RET, 0, 0, KILL_PROCESS],
    [LD_W_ABS, 0, 0, NR_AT],
  ];
  // x86-64's x32 calls (nr | 0x40000000) would go around every number below.
  if (arch === 'x64') p.push([JSET, 0, 1, 0x40000000], [RET, 0, 0, errno(ENOSYS)]);
  for (const name of DENIED) {
    const n = nr[name];
    if (n === undefined) continue; // not on this architecture (iopl, ioperm, _sysctl… on arm64)
    p.push([JEQ, 0, 1, n], [RET, 0, 0, errno(EPERM)]);
  }
  // clone3 hides its flags in memory seccomp cannot read: ENOSYS, so libc falls back to clone.
  p.push([JEQ, 0, 1, nr.clone3!], [RET, 0, 0, errno(ENOSYS)]);
  // clone (flags in arg 0 on both): a namespace flag is refused.
  p.push([JEQ, 0, 4, nr.clone!], [LD_W_ABS, 0, 0, arg(0)], [JSET, 0, 1, CLONE_NAMESPACES], [RET, 0, 0, errno(EPERM)], [RET, 0, 0, ALLOW]);
  // socket: Unix, netlink (libc asks it which addresses exist) and IP only; over IP no raw or packet sockets.
  p.push(
    [JEQ, 0, 12, nr.socket!],
    [LD_W_ABS, 0, 0, arg(0)],
    [JEQ, 8, 0, AF_UNIX],
    [JEQ, 7, 0, AF_NETLINK],
    [JEQ, 1, 0, AF_INET],
    [JEQ, 0, 6, AF_INET6],
    [LD_W_ABS, 0, 0, arg(1)],
    [AND, 0, 0, 0xf],
    [JEQ, 1, 0, SOCK_RAW],
    [JEQ, 0, 1, SOCK_PACKET],
    [RET, 0, 0, errno(EPERM)],
    [RET, 0, 0, ALLOW],
    [RET, 0, 0, errno(EAFNOSUPPORT)],
  );
  // ioctl: no typing into a terminal (TIOCSTI) or its console tricks (TIOCLINUX).
  p.push([JEQ, 0, 4, nr.ioctl!], [LD_W_ABS, 0, 0, arg(1)], [JEQ, 1, 0, TIOCSTI], [JEQ, 0, 1, TIOCLINUX], [RET, 0, 0, errno(EPERM)]);
  p.push([RET, 0, 0, ALLOW]);
  const out = Buffer.alloc(p.length * 8);
  p.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
