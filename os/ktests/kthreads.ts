// Kernel-thread test programs selected with test=<name> (the scenario's
// kernel options). Each runs as the kernel's "main" thread, checks its own
// invariant, prints its marker, and halts the machine.
import { compute, load32, store32, type Code } from '../../sim/ops.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { intOption } from '../options.ts';
import { kprint } from '../console.ts';
import { join, sleepUntilTick, spawn, yieldCpu } from '../sched/sched.ts';
import { acquire, acquireNoIrqsave, newSpinlock, release, releaseNoIrqrestore } from '../sync/spinlock.ts';
import { newMutex, mutexLock, mutexUnlock, type Mutex } from '../sync/mutex.ts';
import { allocWord } from '../mm/kheap.ts';
import { kassert } from '../kassert.ts';
import { createProcess, waitChild, type Process } from '../proc/process.ts';

/** timer-ticks: wait for `ticks` timer ticks (the tick handler prints TICK: every 100). */
export function* ticksTest(k: Kernel): Code<void> {
  const n = intOption(k.opts, 'ticks', 100, 1, 1_000_000);
  yield sleepUntilTick(k, n);
}

/** two-threads: threads A and B print their letter `lines` times with `work` cycles between lines. */
export function* twoThreads(k: Kernel): Code<void> {
  const lines = intOption(k.opts, 'lines', 12, 1, 100_000);
  const work = intOption(k.opts, 'work', 3_000_000, 0, 1_000_000_000);
  const body = (letter: string) =>
    function* (kk: Kernel): Code<void> {
      for (let i = 0; i < lines; i++) {
        yield kprint(kk, `${letter}\n`);
        kk.progress++;
        yield compute(work);
      }
    };
  const a: Thread = yield spawn(k, 'A', body('A'));
  const b: Thread = yield spawn(k, 'B', body('B'));
  yield join(k, a);
  yield join(k, b);
  yield kprint(k, 'THREADS: done\n');
}

/**
 * lock-stress: `threads` threads (default 2 per CPU) each increment a shared
 * counter in simulated memory `iters` times under a spinlock (load, work,
 * store), with `work` cycles outside the lock. The final count must be exact.
 * Planted bug lost-update: the increment runs without the lock.
 */
export function* lockStress(k: Kernel): Code<void> {
  const threads = intOption(k.opts, 'threads', 2 * k.cpus.length, 1, 64);
  const iters = intOption(k.opts, 'iters', 200, 1, 1_000_000);
  const work = intOption(k.opts, 'work', 20_000, 0, 100_000_000);
  const counter: number = yield allocWord(k);
  const lk = yield newSpinlock(k, 'counter');
  const body = (id: number) =>
    function* (kk: Kernel): Code<void> {
      for (let i = 0; i < iters; i++) {
        if (kk.bug === 'lost-update') {
          const v: number = yield load32(counter);
          yield compute(30);
          yield store32(counter, v + 1);
        } else {
          yield acquire(kk, lk);
          const v: number = yield load32(counter);
          yield compute(30);
          yield store32(counter, v + 1);
          yield release(kk, lk);
        }
        kk.progress++;
        yield compute(work + ((id * 7919 + i * 104729) % 997));
      }
    };
  const ts: Thread[] = [];
  for (let i = 0; i < threads; i++) ts.push(yield spawn(k, `worker${i}`, body(i)));
  for (const t of ts) yield join(k, t);
  const final: number = yield load32(counter);
  const expected = threads * iters;
  if (final !== expected) yield kassert('lost-update', `counter is ${final}, expected ${expected} (${threads} threads x ${iters})`);
  yield kprint(k, `LOCK: count ok ${final}\n`);
}

/**
 * mutex-handoff: `threads` threads take a sleeping mutex `iters` times each,
 * yield the CPU inside the critical section (forcing waiters to queue), and
 * check that nobody else is inside. Unlock hands the mutex to the longest
 * waiter. Planted bug lost-wakeup (in mutex.ts) makes a locker sleep forever.
 */
export function* mutexHandoff(k: Kernel): Code<void> {
  const threads = intOption(k.opts, 'threads', 2, 1, 64);
  const iters = intOption(k.opts, 'iters', 20, 1, 1_000_000);
  const work = intOption(k.opts, 'work', 3000, 0, 100_000_000);
  const m: Mutex = yield newMutex(k, 'm');
  let inside: Thread | null = null;
  let count = 0;
  const body = (id: number) =>
    function* (kk: Kernel, t: Thread): Code<void> {
      for (let i = 0; i < iters; i++) {
        yield mutexLock(kk, m);
        if (inside !== null) yield kassert('mutual-exclusion', `${t.name} entered while ${inside.name} is inside`);
        inside = t;
        yield compute(work + ((id * 7919 + i * 104729) % Math.max(1, work)));
        if (i % 2 === 0) yield yieldCpu(kk);
        count++;
        inside = null;
        yield mutexUnlock(kk, m);
        kk.progress++;
        yield compute(work + ((id * 104729 + i * 7919) % Math.max(1, 2 * work)));
      }
    };
  const ts: Thread[] = [];
  for (let i = 0; i < threads; i++) ts.push(yield spawn(k, `locker${i}`, body(i)));
  for (const t of ts) yield join(k, t);
  if (count !== threads * iters) yield kassert('mutual-exclusion', `count ${count}, expected ${threads * iters}`);
  yield kprint(k, `MUTEX: handoff ok ${count} handoffs=${m.handoffs} contended=${m.contended}\n`);
}

/**
 * transfer: `threads` threads move money between two accounts, each guarded
 * by its own spinlock, in both directions; the total must stay constant.
 * The correct code takes the two locks in a fixed order (lower account
 * first). Planted bug abba: it takes `from` then `to`, so two opposite
 * transfers can deadlock; the lock checker reports the order cycle.
 */
export function* transfer(k: Kernel): Code<void> {
  const threads = intOption(k.opts, 'threads', 2, 2, 64);
  const iters = intOption(k.opts, 'iters', 50, 1, 1_000_000);
  const acct = [yield allocWord(k), yield allocWord(k)];
  const locks = [yield newSpinlock(k, 'account0'), yield newSpinlock(k, 'account1')];
  yield store32(acct[0], 1000);
  yield store32(acct[1], 1000);
  const body = (id: number) =>
    function* (kk: Kernel): Code<void> {
      for (let i = 0; i < iters; i++) {
        const from = (id + i) % 2;
        const to = 1 - from;
        const [first, second] = kk.bug === 'abba' ? [from, to] : [Math.min(from, to), Math.max(from, to)];
        yield acquire(kk, locks[first]);
        yield compute(50);
        yield acquire(kk, locks[second]);
        const a: number = yield load32(acct[from]);
        const b: number = yield load32(acct[to]);
        const amount = (id * 31 + i * 7) % 10;
        yield store32(acct[from], a - amount);
        yield store32(acct[to], b + amount);
        yield release(kk, locks[second]);
        yield release(kk, locks[first]);
        kk.progress++;
        yield compute(500 + ((id * 7919 + i * 104729) % 997));
      }
    };
  const ts: Thread[] = [];
  for (let i = 0; i < threads; i++) ts.push(yield spawn(k, `teller${i}`, body(i)));
  for (const t of ts) yield join(k, t);
  const total = ((yield load32(acct[0])) as number) + ((yield load32(acct[1])) as number);
  if (total !== 2000) yield kassert('lost-update', `accounts sum to ${total}, expected 2000`);
  yield kprint(k, `TRANSFER: ok total=${total}\n`);
}

/**
 * lockcheck: provokes one lock-checker finding on purpose (case=<name>), to
 * show each check fires with its named marker: sleep (sleeping while
 * holding a spinlock), recursive (acquiring a held spinlock), nonowner
 * (releasing a spinlock held by another CPU... or none), mutex-nonowner
 * (unlocking a mutex another thread holds), order (ABBA order), irq (a lock
 * taken both in the timer interrupt and with interrupts enabled).
 */
export function* lockcheck(k: Kernel): Code<void> {
  const which = k.opts.values.get('case') ?? '';
  const a = yield newSpinlock(k, 'lockA');
  const b = yield newSpinlock(k, 'lockB');
  switch (which) {
    case 'sleep':
      yield acquire(k, a);
      yield sleepUntilTick(k, k.ticks + 1);
      break;
    case 'recursive':
      yield acquire(k, a);
      yield acquire(k, a);
      break;
    case 'nonowner':
      yield release(k, a);
      break;
    case 'mutex-nonowner': {
      const m: Mutex = yield newMutex(k, 'm');
      const t: Thread = yield spawn(k, 'holder', function* (kk: Kernel): Code<void> {
        yield mutexLock(kk, m);
        yield sleepUntilTick(kk, kk.ticks + 50);
      });
      yield sleepUntilTick(k, k.ticks + 2);
      yield mutexUnlock(k, m);
      yield join(k, t);
      break;
    }
    case 'order':
      yield acquire(k, a);
      yield acquire(k, b);
      yield release(k, b);
      yield release(k, a);
      yield acquire(k, b);
      yield acquire(k, a);
      break;
    case 'irq':
      yield acquireNoIrqsave(k, k.statsLock);
      yield compute(30_000_000); // a timer tick arrives meanwhile and takes stats in the handler
      yield releaseNoIrqrestore(k, k.statsLock);
      break;
    default:
      return yield kassert('sched-invariant', `lockcheck: unknown case=${which}`);
  }
  yield kprint(k, `LOCKCHECK: ${which} not detected\n`);
}

/** user: runs the ring-3 program prog=<name> (boot module /user/<name>) as the first process and waits for it. */
export function* userProgram(k: Kernel): Code<void> {
  const prog = k.opts.values.get('prog') ?? '';
  const arg = intOption(k.opts, 'arg', 0, 0, 0xffffffff);
  const framesBefore = k.pmm.allocated;
  const p: Process | number = yield createProcess(k, prog, null, arg);
  if (typeof p === 'number') {
    // Not a kernel bug: no such program, or (under a fault plan) no memory for it.
    yield kprint(k, `PROC: cannot start ${prog}: error ${p}\n`);
    return;
  }
  const code: number = yield waitChild(k, null, p.pid);
  // Wait (bounded) for every other process to finish, then check for leaked frames.
  for (let i = 0; i < 200 && k.procs.some((q) => q.state === 'alive'); i++) yield sleepUntilTick(k, k.ticks + 1);
  yield kprint(k, `PROC: ${prog} pid ${p.pid} exited with ${code}\n`);
  const leaked = k.pmm.allocated - framesBefore;
  if (leaked !== 0 && k.services.length === 0 && !k.procs.some((q) => q.state === 'alive')) {
    yield kassert('refcount', `${leaked} physical frames leaked by ${prog} and its children (allocated ${framesBefore} before, ${k.pmm.allocated} after)`);
  }
}

export const KTESTS: Record<string, (k: Kernel) => Code<void>> = {
  user: userProgram,
  transfer,
  lockcheck,
  ticks: ticksTest,
  'two-threads': twoThreads,
  'lock-stress': lockStress,
  'mutex-handoff': mutexHandoff,
};
