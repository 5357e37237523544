// Spinlocks with nested interrupt disabling (xv6's push_off/pop_off).
// The lock word lives in simulated memory and is taken with XCHG, so CPUs
// contend through real atomic ops at instruction boundaries. The owner is
// the CPU (interrupts stay off while a spinlock is held, so the holder cannot
// migrate). The lock checker (lockdep.ts) sees every acquire and release.
import { irqRestore, irqSave, pause, pushf, rdgsbase, sti, xchg, STEPS_DONE, type Code, type IrqSaveResult, type OpRec, type StepCode } from '../../sim/ops.ts';
import type { Kernel, PerCpu, Thread } from '../kstate.ts';
import { allocWord } from '../mm/kheap.ts';
import { kassert } from '../kassert.ts';
import type { LockProblem } from './lockdep.ts';

export class Spinlock {
  /** CPU index holding the lock, or -1. */
  cpu = -1;
  acquisitions = 0;
  /** Failed XCHG attempts (contention). */
  spins = 0;
  /** A finished acquire / release step routine of this lock, ready to run again (no allocation per use; null while in use). */
  acqSteps: AcquireSteps | null = null;
  relSteps: ReleaseSteps | null = null;
  /** The lock checker's class for this lock, and the checker it belongs to (lockdep.ts keeps them). */
  depOwner: object | null = null;
  depClass: object | null = null;

  /** The lock word's XCHG 1 and XCHG 0 ops, made once (ops are never written, so they can be yielded again and again). */
  readonly xchg1: OpRec;
  readonly xchg0: OpRec;

  constructor(
    readonly name: string,
    /** HHDM address of the lock word. */
    readonly addr: number,
  ) {
    this.xchg1 = xchg(addr, 1);
    this.xchg0 = xchg(addr, 0);
  }
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
  const r: IrqSaveResult = yield irqSave(); // pushf; cli; rdgsbase
  return pushedOff(k, r);
}

/** push_off's bookkeeping after the IrqSave op. */
function pushedOff(k: Kernel, r: IrqSaveResult): PerCpu {
  const c = k.cpus[r.gsBase];
  if (c.noff === 0) c.intena = (r.rflags & 0x200) !== 0;
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

/**
 * Acquires `lk`, disabling interrupts first (spin_lock_irqsave); resumes with
 * this CPU's data, which stays this CPU's while the lock is held. The
 * instructions are xv6's: push_off (pushf; cli; the per-CPU read, as one
 * IrqSave op), then XCHG until the word was 0 (PAUSE between tries). The
 * kernel's hottest path, so it is a step routine (sim/ops.ts StepCode): the
 * same ops, boundaries and checks as the generator it replaces
 * (`acquireNoIrqsave` below reads as that generator), without a generator.
 */
export function acquire(k: Kernel, lk: Spinlock): StepCode<PerCpu> {
  const s = lk.acqSteps;
  if (s === null || s.k !== k) return new AcquireSteps(k, lk);
  lk.acqSteps = null;
  s.at = 0;
  return s;
}

/** A step routine on lock `lk` (acquire, release); `at` is the step it has reached. */
abstract class LockSteps<R> implements StepCode<R> {
  abstract result: R;
  at = 0;

  constructor(
    readonly k: Kernel,
    protected readonly lk: Spinlock,
  ) {}

  abstract step(v: unknown): OpRec | Code | typeof STEPS_DONE;
}

class AcquireSteps extends LockSteps<PerCpu> {
  result!: PerCpu;

  step(v: unknown): OpRec | Code | typeof STEPS_DONE {
    const lk = this.lk;
    switch (this.at) {
      case 0:
        this.at = 1;
        return irqSave();
      case 1: {
        const c = pushedOff(this.k, v as IrqSaveResult);
        this.result = c;
        const problem = acquireProblem(this.k, c, lk, false);
        if (problem !== null) return kassert(problem.name, problem.detail);
        this.at = 2;
        return lk.xchg1;
      }
      case 2:
        if (v !== 0) {
          lk.spins++;
          this.at = 3;
          return pause();
        }
        took(this.result, lk);
        lk.acqSteps = this; // done: the CPU reads `result` before anything else can run
        return STEPS_DONE;
      default:
        this.at = 2;
        return lk.xchg1;
    }
  }
}

/** What is wrong with acquiring `lk` on CPU `c` (recursion first, then the lock checker), or null. */
function acquireProblem(k: Kernel, c: PerCpu, lk: Spinlock, irqsOn: boolean): LockProblem | null {
  if (holdingOn(c, lk)) return { name: 'recursive-acquire', detail: `${lk.name} acquired again on CPU ${c.index} by ${c.current.name}` };
  return k.lockdep.onAcquire(c, lk, irqsOn);
}

/** After a failed XCHG: PAUSE and XCHG again until the word was 0 (a generator of its own only under contention). */
function* spin(lk: Spinlock): Code<void> {
  do {
    lk.spins++;
    yield pause();
  } while ((yield lk.xchg1) !== 0);
}

/** Records that CPU `c` now holds `lk`. */
function took(c: PerCpu, lk: Spinlock): void {
  lk.cpu = c.index;
  lk.acquisitions++;
  c.held.push(lk);
}

/**
 * Acquires `lk` without disabling interrupts (spin_lock). Correct only for
 * locks never taken in interrupt handlers; the lock checker reports a lock
 * used both ways.
 */
export function* acquireNoIrqsave(k: Kernel, lk: Spinlock): Code<void> {
  const flags: number = yield pushf();
  const c = k.cpus[(yield rdgsbase()) as number];
  const problem = acquireProblem(k, c, lk, (flags & 0x200) !== 0);
  if (problem !== null) yield kassert(problem.name, problem.detail);
  if ((yield lk.xchg1) !== 0) yield spin(lk);
  took(c, lk);
}

/**
 * Releases `lk` and pops the interrupt state pushed by acquire: the per-CPU
 * read (interrupts are off while a spinlock is held, so this CPU cannot
 * change until the end), XCHG 0, then pop_off's pushf and sti (one
 * IrqRestore op) and its checks. A step routine, as acquire.
 */
export function release(k: Kernel, lk: Spinlock): StepCode<void> {
  const s = lk.relSteps;
  if (s === null || s.k !== k) return new ReleaseSteps(k, lk);
  lk.relSteps = null;
  s.at = 0;
  return s;
}

class ReleaseSteps extends LockSteps<void> {
  result = undefined;
  private c: PerCpu | null = null;

  step(v: unknown): OpRec | Code | typeof STEPS_DONE {
    const lk = this.lk;
    switch (this.at) {
      case 0:
        this.at = 1;
        return rdgsbase();
      case 1: {
        const c = this.k.cpus[v as number];
        this.c = c;
        if (!holdingOn(c, lk)) return kassert('release-non-owner', `${lk.name} released on CPU ${c.index} by ${c.current.name}, held by CPU ${lk.cpu}`);
        forget(c, lk);
        this.at = 2;
        return lk.xchg0; // release store with a full barrier
      }
      case 2: {
        const c = this.c!;
        this.at = 3;
        return irqRestore(c.noff === 1 && c.intena ? 0x200 : 0);
      }
      default: {
        const c = this.c!;
        if (((v as number) & 0x200) !== 0) return kassert('sched-invariant', 'pop_off with interrupts enabled');
        if (c.noff < 1) return kassert('sched-invariant', 'pop_off without push_off');
        c.noff--;
        this.c = null;
        this.lk.relSteps = this;
        return STEPS_DONE;
      }
    }
  }
}

/** Forgets `lk`'s holder (before the store that frees the word). */
function forget(c: PerCpu, lk: Spinlock): void {
  const held = c.held;
  if (held[held.length - 1] === lk) held.pop(); // the usual, last-in first-out
  else {
    const i = held.lastIndexOf(lk);
    if (i >= 0) held.splice(i, 1);
  }
  lk.cpu = -1;
}

/** Releases a lock taken with acquireNoIrqsave. */
export function* releaseNoIrqrestore(k: Kernel, lk: Spinlock): Code<void> {
  const c = k.cpus[(yield rdgsbase()) as number];
  if (!holdingOn(c, lk)) yield kassert('release-non-owner', `${lk.name} released on CPU ${c.index} by ${c.current.name}, held by CPU ${lk.cpu}`);
  forget(c, lk);
  yield lk.xchg0;
}
