import { closeSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

// The names a sandboxed run keeps from its agent (`SandboxPolicy.reserved`): iron-cage's files
// that do not exist yet in a folder the agent writes. bwrap can only mount over a name that
// exists, so each is made an empty file for the run (the mount point of a read-only /dev/null
// inside the sandbox) and removed once the last run that relies on it has ended, unless someone
// on this side of the sandbox has written into it meanwhile.
//
// Removing a placeholder too early is a way out, not just litter: unlinking a file on the host
// lifts every mount over it in the sandboxes that have one (Linux detaches mounts on a name removed
// in another mount namespace), and that agent may then write the name (a config that turns the
// sandbox off for the next start). Two runs in one working folder (two agents of one cage, or two
// cages) share the names, so a placeholder goes only when no run holds it: the runs of this
// process are counted, another process's live sandbox is found by its bwrap's arguments (which
// name every mount). A run adopts a placeholder it finds (another run's, or one a killed run
// left, which bwrap itself may make when a name went missing before its mounts), so the last run
// out removes it. A placeholder is an empty regular file that nobody may write (made here 0400, by
// bwrap 0444 less the umask): never one of SQLite's (an empty WAL after a checkpoint is 0600) nor a
// user's empty file, which are masked as they are and never removed. A live sandbox's cover is
// found by the file it covers (device and inode: a path through a symlinked folder, or as another
// mount namespace names it, is the same file). Where a live sandbox could be hidden (/proc
// unreadable on Linux; mounted with `hidepid` or a process unreadable, for a name in a folder
// another user may write), a placeholder is left rather than risked; and a start waits while a
// sandbox is exiting (its bwrap's arguments gone before its processes are) before it clears any.

/** The runs of this process that hold each name. */
const holders = new Map<string, number>();

/** Where the processes are read (a test gives a folder laid out as /proc is, to show what a live system rarely does). */
const PROC = '/proc';

/** Whether `path` is an empty file as this module or bwrap makes one for a mount point. */
export function isPlaceholder(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isFile() && st.size === 0 && (st.mode & 0o222) === 0;
  } catch {
    return false;
  }
}

/**
 * Hold each name for a run: made where it is free, adopted where a placeholder holds it already.
 * Returns the names held (give each back with releaseNames once the run has ended).
 * @example const held = takeNames(policy.reserved); try { … } finally { releaseNames(held) }
 */
export function takeNames(paths: readonly string[]): string[] {
  const held: string[] = [];
  for (const p of paths) {
    const runs = holders.get(p) ?? 0;
    if (runs === 0) {
      try {
        closeSync(openSync(p, 'wx', 0o400));
      } catch {
        // Made meanwhile: a placeholder is shared, anything else is masked as it is (not ours).
        if (!isPlaceholder(p)) continue;
      }
    }
    holders.set(p, runs + 1);
    held.push(p);
  }
  return held;
}

/**
 * Give the names back (once a run has ended, its bwrap reaped): each that no other run holds, and
 * that is still an empty placeholder, is removed; one written into is left as it is.
 */
export function releaseNames(held: readonly string[]): void {
  const last: string[] = [];
  for (const p of held) {
    const runs = (holders.get(p) ?? 1) - 1;
    if (runs > 0) holders.set(p, runs);
    else {
      holders.delete(p);
      last.push(p);
    }
  }
  if (last.length === 0) return;
  // (Sandboxes exiting are not waited for here: no start waits on this, and a name left is litter in
  // the user's folder whenever another sandbox on the machine happens to end at the same moment.)
  const elsewhere = mountedElsewhere(last, PROC, false);
  for (const p of last) {
    if (elsewhere === null || elsewhere.has(p) || !isPlaceholder(p)) continue;
    try {
      unlinkSync(p);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Before a start opens its own state: placeholders a killed run left over its files (a run killed
 * with -9 never gives its names back; one started with another --db left them over this folder's
 * default state, an empty read-only `iron_state.db` and `.key` the next plain start would open),
 * removed where no live run holds them. Returns those it left: held by a live run of another
 * process (its agent must not have the names back: this start cannot use them), or all of them
 * where that cannot be known (`unknown`).
 * `proc`: where the processes are read, /proc unless a test says otherwise.
 * @example const { held } = clearLeftPlaceholders(sqliteFiles(db)); // [] once cleared
 */
export function clearLeftPlaceholders(paths: readonly string[], proc = PROC): { held: string[]; unknown: boolean } {
  // This process's runs hold names as their policy made them: the folder's links followed.
  const left = paths.filter((p) => (holders.get(named(p)) ?? 0) === 0 && isPlaceholder(p));
  if (left.length === 0) return { held: [], unknown: false };
  const elsewhere = mountedElsewhere(left, proc, true);
  if (elsewhere === null) return { held: left, unknown: true };
  const held: string[] = [];
  for (const p of left) {
    if (elsewhere.has(p)) held.push(p);
    else {
      try {
        unlinkSync(p);
      } catch {
        /* already gone */
      }
    }
  }
  // Covered by a sandbox found says more than one that cannot be known: named first.
  held.sort((a, b) => (elsewhere.get(a) === 'covered' ? 0 : 1) - (elsewhere.get(b) === 'covered' ? 0 : 1));
  return { held, unknown: held.length > 0 && elsewhere.get(held[0]!) === 'unknown' };
}

/** A name as the kernel finds it: its folder's links followed, the name itself not (it may not exist); the policy names reserved files so. */
export function named(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}

/**
 * Of `paths`, those a live bwrap (another process's sandbox) may cover with /dev/null: read from
 * /proc, where a bwrap's arguments name each of its mounts (before its first `--`, where the
 * command it runs begins). A mount is matched by the file it covers (device and inode), not only by
 * its name: a path through a symlinked folder names the same file another way, and a bwrap in
 * another mount namespace (a container sharing the folder) names it as that namespace does, found
 * through its `/proc/<pid>/root`; unlinking the file would lift that mount all the same. Where
 * another user's processes are hidden (/proc mounted with `hidepid`, not root) or one cannot be
 * read, a name in a folder someone else may write is `unknown`: that user's sandbox could cover
 * it. With `exiting`, a sandbox ending whose arguments are gone covers every name (below): for a
 * start that waits for it, polling through teardowns. Null where /proc cannot be read at all on Linux.
 */
function mountedElsewhere(paths: readonly string[], proc: string, exiting: boolean): Map<string, 'covered' | 'unknown'> | null {
  const byFile = new Map<string, string[]>();
  for (const p of paths) {
    const id = fileId(p);
    if (id !== null) byFile.set(id, [...(byFile.get(id) ?? []), p]);
  }
  const wanted = new Set(paths);
  const out = new Map<string, 'covered' | 'unknown'>();
  let pids: string[];
  let hidden: boolean;
  let blind = false;
  let ending: 'own' | 'other' | null = null;
  try {
    pids = readdirSync(proc).filter((d) => /^\d+$/.test(d));
    hidden = othersHidden(proc);
  } catch {
    return process.platform === 'linux' ? null : out; // macOS: seatbelt reserves names without placeholders
  }
  for (const pid of pids) {
    let args: string[];
    try {
      if (readFileSync(`${proc}/${pid}/comm`, 'utf8') !== 'bwrap\n') continue;
      args = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0');
    } catch (err) {
      // Ended meanwhile: nothing of it to find. Unreadable: another user's, which may cover any of them.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH') hidden = true;
      continue;
    }
    // No arguments left: a bwrap exiting (its memory dropped first). What it covered cannot be
    // read any more, and as its sandbox's PID 1 the processes of that sandbox die only after this
    // (the kernel kills and waits for them before it becomes a zombie): every name is covered
    // until it is one, or gone; another user's only where that user's sandbox could have a name.
    if (exiting && args.length === 1 && args[0] === '') {
      const who = exitingSandbox(pid, proc);
      if (who === 'own') ending = 'own';
      else if (who === 'other' && ending === null) ending = 'other';
    }
    for (let i = 0; i + 2 < args.length && args[i] !== '--'; i++) {
      if (args[i] !== '--ro-bind' || args[i + 1] !== '/dev/null') continue;
      const target = args[i + 2]!;
      if (wanted.has(target)) out.set(target, 'covered');
      const here = fileId(target);
      const inside = rootedId(pid, target, proc);
      // A name that is no file here, in a root not ours to read (a container's bwrap, another
      // user's): what it covers cannot be told. (One that is a file here is read as here: a
      // setuid bwrap's root is unreadable to its own user, and its names are ours.)
      if (inside === 'unreadable' && here === null) blind = true;
      for (const id of [here, inside === 'unreadable' ? null : inside]) for (const p of id === null ? [] : (byFile.get(id) ?? [])) out.set(p, 'covered');
    }
  }
  for (const p of paths) if (!out.has(p) && (ending === 'own' || (ending === 'other' && !privateFolder(p)))) out.set(p, 'covered');
  for (const p of paths) if (!out.has(p) && (blind || (hidden && !privateFolder(p)))) out.set(p, 'unknown');
  return out;
}

/**
 * Of a process with no arguments left: whose sandbox's PID 1 it is while that sandbox ends (PID 1
 * of a namespace of its own, its `NSpid` ending in 1, and not yet a zombie), this user's (`own`) or
 * another's; null when it is none (a zombie, gone, or no namespace's first process: no process
 * named bwrap with its arguments unmapped makes every start wait).
 */
function exitingSandbox(pid: string, proc: string): 'own' | 'other' | null {
  let status: string;
  try {
    status = readFileSync(`${proc}/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/) ?? [];
  const ns = field('NSpid');
  if (field('State')[0] === 'Z' || ns.length < 2 || ns.at(-1) !== '1') return null;
  return Number(field('Uid')[1]) === process.geteuid?.() ? 'own' : 'other';
}

/** Whether other users' processes are hidden from this one: /proc mounted with `hidepid`, unless it may trace any (CAP_SYS_PTRACE). */
function othersHidden(proc: string): boolean {
  if (tracesAll(proc)) return false;
  for (const line of readFileSync(`${proc}/self/mountinfo`, 'utf8').split('\n')) {
    // `id parent major:minor root mountpoint options [optional…] - fstype source superoptions`
    const [before, after] = line.split(' - ');
    if (before?.split(' ')[4] !== '/proc' || after === undefined) continue;
    const [fstype, , superOptions = ''] = after.split(' ');
    if (fstype === 'proc' && superOptions.split(',').some((o) => o.startsWith('hidepid=') && o !== 'hidepid=0' && o !== 'hidepid=off')) return true;
  }
  return false;
}

/** Whether this process has CAP_SYS_PTRACE (bit 19 of its effective capabilities): hidepid hides nothing from it. */
function tracesAll(proc: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`${proc}/self/status`, 'utf8'))?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 19n)) !== 0n;
}

/** The file `target` names inside process `pid`'s own root (its mount namespace), as `dev:ino`; null when there is none. */
function rootedId(pid: string, target: string, proc: string): string | null | 'unreadable' {
  try {
    const st = lstatSync(`${proc}/${pid}/root${target}`);
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ESRCH' ? null : 'unreadable';
  }
}

/** Whether `path`'s folder is ours and no one else may write in it (no other user's agent could have made a name there). */
function privateFolder(path: string): boolean {
  try {
    const st = lstatSync(dirname(path));
    return st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** A file's device and inode, as `dev:ino` (its name not followed if it is a link); null when there is none. */
function fileId(path: string): string | null {
  try {
    const st = lstatSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}
