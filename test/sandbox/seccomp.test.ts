import { describe, expect, it } from 'vitest';
import { DENIED, seccompFilter } from '../../src/sandbox/seccomp.js';

// The seccomp program's shape (the escape suite runs it for real: ptrace, mount, unshare, keyctl,
// raw sockets refused under bwrap): classic BPF, 8 bytes an instruction, the architecture checked
// first, every jump inside the program, and ALLOW last.

const insns = (b: Buffer) => Array.from({ length: b.length / 8 }, (_, i) => ({ code: b.readUInt16LE(i * 8), jt: b[i * 8 + 2]!, jf: b[i * 8 + 3]!, k: b.readUInt32LE(i * 8 + 4) }));

describe('the seccomp filter', () => {
  it.each([
    ['x64', 0xc000003e],
    ['arm64', 0xc00000b7],
  ])('for %s: checks the architecture first, keeps every jump inside, and ends in ALLOW', (arch, audit) => {
    const p = insns(seccompFilter(arch));
    expect(p.length).toBeGreaterThan(DENIED.length);
    expect(p.length).toBeLessThan(4096);
    expect(p[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 });
    expect(p[1]).toMatchObject({ code: 0x15, k: audit });
    expect(p[2]).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0x80000000 });
    expect(p.at(-1)).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 });
    for (const [i, x] of p.entries()) if ((x.code & 0x07) === 0x05) expect(i + 1 + Math.max(x.jt, x.jf)).toBeLessThan(p.length);
  });

  it('refuses the calls it lists with EPERM, and an unknown architecture is said', () => {
    const p = insns(seccompFilter('x64'));
    // ptrace (101) and keyctl (250) on x86-64: a comparison followed by RET ERRNO(EPERM).
    for (const nr of [101, 250, 165, 272]) {
      const at = p.findIndex((x) => x.code === 0x15 && x.k === nr && x.jt === 0 && x.jf === 1);
      expect(at, `syscall ${nr}`).toBeGreaterThan(0);
      expect(p[at + 1]).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0x00050001 });
    }
    expect(DENIED).toEqual(expect.arrayContaining(['ptrace', 'mount', 'unshare', 'setns', 'bpf', 'keyctl', 'kexec_load', 'perf_event_open', 'io_uring_setup']));
    expect(() => seccompFilter('ia32')).toThrow('no seccomp filter for the ia32 architecture');
  });
});
