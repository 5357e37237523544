// Spinlocks with nested interrupt disabling (xv6's push_off/pop_off).
// The lock word lives in simulated memory and is taken with XCHG, so CPUs
// contend through real atomic ops at instruction boundaries. The owner is
// the CPU (interrupts stay off while a spinlock is held, so the holder cannot
// migrate). The lock checker (lockdep.ts) sees every acquire and release.
import { cli, pause, pushf, rdgsbase, sti, xchg, type Code } from '../../sim/ops.ts';
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

/** Disables interrupts, counting nesting; remembers whether they were on at the outermost level. */
export function* pushOff(k: Kernel): Code<PerCpu> {
  const flags: number = yield pushf();
  yield cli();
  const c = k.cpus[(yield rdgsbase()) as number];
  if (c.noff === 0) c.intena = (flags & 0x200) !== 0;
  c.noff++;
  return c;
}

/** Undoes one pushOff; re-enables interrupts when the outermost level had them on. */
export function* popOff(k: Kernel): Code<void> {
  const flags: number = yield pushf();
  const c = k.cpus[(yield rdgsbase()) as number];
  if ((flags & 0x200) !== 0) yield kassert('sched-invariant', 'pop_off with interrupts enabled');
  if (c.noff < 1) yield kassert('sched-invariant', 'pop_off without push_off');
  c.noff--;
  if (c.noff === 0 && c.intena) yield sti();
}

/** Whether this CPU holds `lk` (call with interrupts off). */
export function holdingOn(c: PerCpu, lk: Spinlock): boolean {
  return lk.cpu === c.index;
}

/** Acquires `lk`, disabling interrupts first (spin_lock_irqsave). */
export function* acquire(k: Kernel, lk: Spinlock): Code<void> {
  const c: PerCpu = yield pushOff(k);
  yield spinOn(k, c, lk, false);
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

/** Releases `lk` and pops the interrupt state pushed by acquire. */
export function* release(k: Kernel, lk: Spinlock): Code<void> {
  // releaseNoIrqrestore + popOff, reading the per-CPU index once: interrupts are
  // off while a spinlock is held, so this CPU cannot change in between.
  const c = k.cpus[(yield rdgsbase()) as number];
  yield dropLock(k, c, lk);
  const flags: number = yield pushf();
  if ((flags & 0x200) !== 0) yield kassert('sched-invariant', 'pop_off with interrupts enabled');
  if (c.noff < 1) yield kassert('sched-invariant', 'pop_off without push_off');
  c.noff--;
  if (c.noff === 0 && c.intena) yield sti();
}

/** Checks ownership, forgets the holder and stores 0 to the lock word (the common tail of the release paths). */
function* dropLock(k: Kernel, c: PerCpu, lk: Spinlock): Code<void> {
  if (!holdingOn(c, lk)) yield kassert('release-non-owner', `${lk.name} released on CPU ${c.index} by ${c.current.name}, held by CPU ${lk.cpu}`);
  const i = c.held.lastIndexOf(lk);
  c.held.splice(i, 1);
  lk.cpu = -1;
  yield xchg(lk.addr, 0); // release store with a full barrier
}

/** Releases a lock taken with acquireNoIrqsave. */
export function* releaseNoIrqrestore(k: Kernel, lk: Spinlock): Code<void> {
  const c = k.cpus[(yield rdgsbase()) as number];
  yield dropLock(k, c, lk);
}
