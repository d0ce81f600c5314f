/**
 * Whether a process with this pid exists (EPERM: it exists, owned by someone else). Used to tell a
 * live iron-cage holding a database or a demo folder from a stale record of one that died.
 * @example processAlive(process.pid) // true
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
