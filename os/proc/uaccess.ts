// Copying to and from user memory. A user pointer is checked against the
// user half of the address space, then the copy runs as one string op with
// an exception-table fixup armed: if any page is missing or not writable
// (or another thread unmaps it meanwhile), the #PF handler abandons the op
// and the copy returns EFAULT. A bad pointer never reaches kernel memory or
// another process's memory, and never panics the kernel.
import { load8, repMovs, STEPS_DONE, type Code, type OpRec, type StepCode } from '../../sim/ops.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { ERR, USER } from '../syscall/abi.ts';
import { mythread } from '../sync/spinlock.ts';

/** Value a fixed-up op resumes with. */
export const FAULTED = { faulted: true };

/** Whether [va, va+len) lies entirely in the user half (and len is sane). */
export function userRange(va: number, len: number): boolean {
  return Number.isSafeInteger(va) && Number.isSafeInteger(len) && len >= 0 && va >= 0x1000 && va + len <= USER.top;
}

/**
 * One `rep movsb` from `src` to `dst` with the fault fixup armed for thread
 * `t`; resumes with false if it faulted. A step routine (sim/ops.ts
 * StepCode): it is on every IPC message's path, and its one op needs no
 * generator of its own.
 */
export function guardedCopy(t: Thread, dst: number, src: number, len: number): StepCode<boolean> {
  return new GuardedCopy(t, dst, src, len);
}

class GuardedCopy implements StepCode<boolean> {
  result = true;
  private started = false;

  constructor(
    private readonly t: Thread,
    private readonly dst: number,
    private readonly src: number,
    private readonly len: number,
  ) {}

  step(v: unknown): OpRec | typeof STEPS_DONE {
    if (!this.started) {
      if (this.len === 0) return STEPS_DONE;
      this.started = true;
      this.t.uaccess = true;
      return repMovs(this.dst, this.src, this.len);
    }
    this.t.uaccess = false;
    this.result = v !== FAULTED;
    return STEPS_DONE;
  }
}

/** Copies `len` bytes between kernel and user memory; `userVa` is the user side. 0 or EFAULT. */
function* copyUser(k: Kernel, dst: number, src: number, len: number, userVa: number): Code<number> {
  if (!userRange(userVa, len)) return ERR.EFAULT;
  const t: Thread = yield mythread(k);
  return (yield guardedCopy(t, dst, src, len)) ? 0 : ERR.EFAULT;
}

/** Copies `len` bytes from user `src` to kernel virtual `dst`; 0 or EFAULT. */
export function* copyIn(k: Kernel, dst: number, src: number, len: number): Code<number> {
  return yield copyUser(k, dst, src, len, src);
}

/** Copies `len` bytes from kernel `src` to user `dst`; 0 or EFAULT. */
export function* copyOut(k: Kernel, dst: number, src: number, len: number): Code<number> {
  return yield copyUser(k, dst, src, len, dst);
}

/** Reads a user string of `len` bytes (Latin-1); a number (EFAULT) on a bad pointer. */
export function* readUserString(k: Kernel, va: number, len: number): Code<string | number> {
  if (!userRange(va, len)) return ERR.EFAULT;
  const t: Thread = yield mythread(k);
  let s = '';
  t.uaccess = true;
  for (let i = 0; i < len; i++) {
    const b: unknown = yield load8(va + i);
    if (b === FAULTED) {
      t.uaccess = false;
      return ERR.EFAULT;
    }
    s += String.fromCharCode(b as number);
  }
  t.uaccess = false;
  return s;
}
