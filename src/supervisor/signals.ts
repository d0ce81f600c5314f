import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

/**
 * Whether process `pid` has a handler for `sig`, from the SigCgt mask in /proc (Linux). Where
 * /proc cannot say (another OS), assume it does: the caller asked for the signal.
 */
export function catchesSignal(pid: number, sig: NodeJS.Signals): boolean {
  const n = constants.signals[sig];
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return true;
  }
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
  if (!m || n === undefined) return true;
  return ((BigInt(`0x${m[1]}`) >> BigInt(n - 1)) & 1n) === 1n;
}
