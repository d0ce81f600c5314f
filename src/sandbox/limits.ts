import type { SandboxLimits } from '../config/index.js';
import type { ExitInfo } from '../supervisor/index.js';

// An agent stopped by one of its sandbox limits, said in words. The kernel says it plainly for CPU
// time (SIGXCPU) and file size (SIGXFSZ); for memory the interpreter says it on its way out
// (Python's MemoryError, Node's "heap out of memory", an allocation refused); for processes, a
// fork refused (EAGAIN) in the agent's last words.

const size = (bytes: number) => (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0 ? `${bytes / 1024 ** 3} GB` : `${Math.round(bytes / 1024 ** 2)} MB`);

const MEMORY = /\bMemoryError\b|heap out of memory|Cannot allocate memory|Array buffer allocation failed|std::bad_alloc|ENOMEM|failed to allocate|out of memory/i;
const PROCESSES = /Resource temporarily unavailable|BlockingIOError: \[Errno 11\]|EAGAIN|can't start new thread|fork: retry/i;

/**
 * The limit an exit shows the agent reached, as "used its 4 GB memory limit", or null.
 *
 * @example limitWords({ code: null, signal: 'SIGXCPU' }, [], limits) // 'used its CPU time limit (60 s)'
 */
export function limitWords(exit: ExitInfo, lastErrors: readonly string[], l: SandboxLimits): string | null {
  if (exit.limit) return exit.limit;
  if (exit.signal === 'SIGXCPU') return `used its CPU time limit (${l.cpuSeconds} s)`;
  if (exit.signal === 'SIGXFSZ') return `wrote a file past its ${size(l.fileSizeBytes)} file size limit`;
  if (exit.code === 0) return null;
  const tail = lastErrors.slice(-8).join('\n');
  if (MEMORY.test(tail)) return `used its ${size(l.memoryBytes)} memory limit`;
  if (PROCESSES.test(tail)) return `used its limit of ${l.processes} processes`;
  return null;
}
