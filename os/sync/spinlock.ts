// Spinlocks with nested interrupt disabling (xv6's push_off/pop_off).
// The lock word lives in simulated memory and is taken with XCHG, so CPUs
// contend through real atomic ops at instruction boundaries. The owner is
// the CPU (interrupts stay off while a spinlock is held, so the holder cannot
// migrate). The lock checker (lockdep.ts) sees every acquire and release.
import { irqRestore, irqSave, pause, pushf, rdgsbase, xchg, type Code } from '../../sim/ops.ts';
import type { Kernel, PerCpu, Thread } from '../kstate.ts';
import { allocWord } from '../mm/kheap.ts';
import { kassert } from '../kassert.ts';

export class Spinlock {
  /** CPU index holding the lock, or -1. */
  cpu = -1;
  acquisitions = 0;
  /** Failed XCHG attempts (contention). */
  spins = 0;

  constructor(
    readonly name: string,
    /** HHDM address of the lock word. */
    readonly addr: number,
  ) {}
}

export function* newSpinlock(k: Kernel, name: string): Code<Spinlock> {
  return new Spinlock(name, yield allocWord(k));
}

/** This CPU's per-CPU data (stable only while interrupts are off). */
export function* mycpu(k: Kernel): Code<PerCpu> {
  const idx: number = yield rdgsbase();
  return k.cpus[idx];
}

/**
 * The running thread. One op: code between two yields is atomic (an
 * instruction boundary is the only place a thread can be preempted or
 * migrated), so the CPU that answered RDGSBASE still runs this thread when
 * its `current` is read.
 */
export function* mythread(k: Kernel): Code<Thread> {
  const idx: number = yield rdgsbase();
  return k.cpus[idx].current;
}

/** Disables interrupts, counting nesting; remembers whether they were on at the outermost level. Returns this CPU's data. */
export function* pushOff(k: Kernel): Code<PerCpu> {
  const flags: number = yield irqSave();
  const c = k.cpus[(yield rdgsbase()) as number];
  if (c.noff === 0) c.intena = (flags & 0x200) !== 0;
  c.noff++;
  return c;
}

/** Undoes one pushOff; re-enables interrupts when the outermost level had them on. */
export function* popOff(k: Kernel): Code<void> {
  yield popOffOn(k, k.cpus[(yield rdgsbase()) as number]);
}

/** popOff for a known CPU `c` (interrupts are off, so it is still this CPU): one op. */
function* popOffOn(k: Kernel, c: PerCpu): Code<void> {
  if (c.noff < 1) yield kassert('sched-invariant', 'pop_off without push_off');
  c.noff--;
  // POPFQ restores the outermost level's IF; the flags it replaces must have IF off.
  const flags: number = yield irqRestore(c.noff === 0 && c.intena ? 0x200 : 0);
  if ((flags & 0x200) !== 0) yield kassert('sched-invariant', 'pop_off with interrupts enabled');
}

/** Whether this CPU holds `lk` (call with interrupts off). */
export function holdingOn(c: PerCpu, lk: Spinlock): boolean {
  return lk.cpu === c.index;
}

/**
 * Acquires `lk`, disabling interrupts first (spin_lock_irqsave); returns this
 * CPU's data, which stays this CPU's while the lock is held. The uncontended
 * path is three ops: local_irq_save, the per-CPU index, XCHG (push_off and the
 * spin loop are written out here: this is the kernel's hottest path). Code
 * that knows its running thread `self` passes it and saves the per-CPU read:
 * with interrupts off the thread cannot migrate, so `self.cpu` (set by the
 * scheduler when it switched the thread in) is this CPU, as Linux once read
 * the CPU number from current_thread_info()->cpu.
 */
export function* acquire(k: Kernel, lk: Spinlock, self: Thread | null = null): Code<PerCpu> {
  const flags: number = yield irqSave();
  const c = k.cpus[self === null ? ((yield rdgsbase()) as number) : self.cpu];
  if (c.noff === 0) c.intena = (flags & 0x200) !== 0;
  c.noff++;
  if (holdingOn(c, lk)) yield kassert('recursive-acquire', `${lk.name} acquired again on CPU ${c.index} by ${c.current.name}`);
  const problem = k.lockdep.onAcquire(c, lk, false);
  if (problem !== null) yield kassert(problem.name, problem.detail);
  while ((yield xchg(lk.addr, 1)) !== 0) {
    lk.spins++;
    yield pause();
  }
  lk.cpu = c.index;
  lk.acquisitions++;
  c.held.push(lk);
  return c;
}

/**
 * Acquires `lk` without disabling interrupts (spin_lock). Correct only for
 * locks never taken in interrupt handlers; the lock checker reports a lock
 * used both ways.
 */
export function* acquireNoIrqsave(k: Kernel, lk: Spinlock): Code<void> {
  const flags: number = yield pushf();
  const c = k.cpus[(yield rdgsbase()) as number];
  yield spinOn(k, c, lk, (flags & 0x200) !== 0);
}

function* spinOn(k: Kernel, c: PerCpu, lk: Spinlock, irqsOn: boolean): Code<void> {
  if (holdingOn(c, lk)) yield kassert('recursive-acquire', `${lk.name} acquired again on CPU ${c.index} by ${c.current.name}`);
  const problem = k.lockdep.onAcquire(c, lk, irqsOn);
  if (problem !== null) yield kassert(problem.name, problem.detail);
  for (;;) {
    const old: number = yield xchg(lk.addr, 1);
    if (old === 0) break;
    lk.spins++;
    yield pause();
  }
  lk.cpu = c.index;
  lk.acquisitions++;
  c.held.push(lk);
}

/**
 * Releases `lk` and pops the interrupt state pushed by acquire: per-CPU
 * index, XCHG, POPFQ. `self` as for acquire (interrupts are still off here,
 * so the thread has not moved).
 */
export function* release(k: Kernel, lk: Spinlock, self: Thread | null = null): Code<void> {
  const c = k.cpus[self === null ? ((yield rdgsbase()) as number) : self.cpu];
  if (!holdingOn(c, lk)) yield kassert('release-non-owner', `${lk.name} released on CPU ${c.index} by ${c.current.name}, held by CPU ${lk.cpu}`);
  forget(c, lk);
  yield xchg(lk.addr, 0); // release store with a full barrier
  if (c.noff < 1) yield kassert('sched-invariant', 'pop_off without push_off');
  c.noff--;
  const flags: number = yield irqRestore(c.noff === 0 && c.intena ? 0x200 : 0);
  if ((flags & 0x200) !== 0) yield kassert('sched-invariant', 'pop_off with interrupts enabled');
}

/** Forgets `lk`'s holder (before the store that frees the word). */
function forget(c: PerCpu, lk: Spinlock): void {
  const i = c.held.lastIndexOf(lk);
  c.held.splice(i, 1);
  lk.cpu = -1;
}

/** Releases a lock taken with acquireNoIrqsave. */
export function* releaseNoIrqrestore(k: Kernel, lk: Spinlock): Code<void> {
  const c = k.cpus[(yield rdgsbase()) as number];
  if (!holdingOn(c, lk)) yield kassert('release-non-owner', `${lk.name} released on CPU ${c.index} by ${c.current.name}, held by CPU ${lk.cpu}`);
  forget(c, lk);
  yield xchg(lk.addr, 0);
}
