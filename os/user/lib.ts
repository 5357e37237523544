// The user runtime library: syscall stubs (int 0x80 with the ABI's
// registers) and small helpers for strings in user memory. User programs
// are generator functions running at CPL 3; every access they make goes
// through the MMU with their own page tables.
import { int, load8, store32, store8, type Code, type OpRec } from '../../sim/ops.ts';
import { SYS, USER } from '../syscall/abi.ts';

/** Raw syscall: the `int 0x80` op itself (`yield sys(...)` resumes with rax). */
export function sys(num: number, rdi = 0, rsi = 0, rdx = 0, r10 = 0, r8 = 0, r9 = 0): OpRec {
  return int(0x80, { rax: num, rdi, rsi, rdx, r10, r8, r9 });
}

/** Scratch area in the main stack page (programs have no data segment). */
export const SCRATCH = USER.stackPage;

/** Writes `s` (Latin-1) at `va` in user memory; returns its length. */
export function* putStr(va: number, s: string): Code<number> {
  let i = 0;
  for (; i + 4 <= s.length; i += 4) {
    yield store32(va + i, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24));
  }
  for (; i < s.length; i++) yield store8(va + i, s.charCodeAt(i));
  return s.length;
}

/** Reads `len` bytes at `va` as a Latin-1 string. */
export function* getStr(va: number, len: number): Code<string> {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode((yield load8(va + i)) as number);
  return s;
}

/** Prints `s` through debug_write (chunks of 256 bytes) using scratch memory at `buf`. */
export function* print(s: string, buf = SCRATCH): Code<number> {
  let last = 0;
  for (let off = 0; off < s.length; off += 256) {
    const chunk = s.slice(off, off + 256);
    yield putStr(buf, chunk);
    last = yield sys(SYS.debug_write, buf, chunk.length);
    if (last < 0) return last;
  }
  return last;
}

export function* exit(code: number): Code<never> {
  yield sys(SYS.exit, code);
  for (;;) yield sys(SYS.exit, code);
}

/** Spawns program `name` (copied to scratch at `buf`) with argument `arg`; returns the pid or an error. */
export function* spawn(name: string, arg = 0, buf = SCRATCH + 0x800): Code<number> {
  yield putStr(buf, name);
  return yield sys(SYS.spawn, buf, name.length, arg);
}

export function* wait(pid: number): Code<number> {
  return yield sys(SYS.wait, pid);
}

/** Prints `good` or `bad` (a marker line) depending on `cond`. */
export function* ok(cond: boolean, good: string, bad: string): Code<void> {
  yield print(`${cond ? good : bad}\n`);
}

/** A 32-bit xorshift step: user programs carry their own PRNG. */
export function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** Collects named checks; good while every check passed. */
export class Checklist {
  good = true;
  private readonly errs: string[] = [];

  check(cond: boolean, what: string): void {
    if (!cond) {
      this.good = false;
      this.errs.push(what);
    }
  }

  /** The failed checks, comma-separated. */
  failed(): string {
    return this.errs.join(', ');
  }
}
