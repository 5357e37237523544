// Kernel-thread test programs selected with test=<name> (the scenario's
// kernel options). Each runs as the kernel's "main" thread, checks its own
// invariant, prints its marker, and halts the machine.
import { compute, load32, store32, type Code } from '../../sim/ops.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { intOption } from '../options.ts';
import { kprint } from '../console.ts';
import { join, sleepUntilTick, spawn, yieldCpu } from '../sched/sched.ts';
import { acquire, newSpinlock, release } from '../sync/spinlock.ts';
import { newMutex, mutexLock, mutexUnlock, type Mutex } from '../sync/mutex.ts';
import { allocWord } from '../mm/kheap.ts';
import { kassert } from '../kassert.ts';
import { createProcess, waitChild, type Process } from '../proc/process.ts';

/** timer-ticks: wait for `ticks` timer ticks (the tick handler prints TICK: every 100). */
export function* ticksTest(k: Kernel): Code<void> {
  const n = intOption(k.opts, 'ticks', 100, 1, 1_000_000);
  yield* sleepUntilTick(k, n);
}

/** two-threads: threads A and B print their letter `lines` times with `work` cycles between lines. */
export function* twoThreads(k: Kernel): Code<void> {
  const lines = intOption(k.opts, 'lines', 12, 1, 100_000);
  const work = intOption(k.opts, 'work', 3_000_000, 0, 1_000_000_000);
  const body = (letter: string) =>
    function* (kk: Kernel): Code<void> {
      for (let i = 0; i < lines; i++) {
        yield* kprint(kk, `${letter}\n`);
        kk.progress++;
        yield compute(work);
      }
    };
  const a: Thread = yield* spawn(k, 'A', body('A'));
  const b: Thread = yield* spawn(k, 'B', body('B'));
  yield* join(k, a);
  yield* join(k, b);
  yield* kprint(k, 'THREADS: done\n');
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
  const counter: number = yield* allocWord(k);
  const lk = yield* newSpinlock(k, 'counter');
  const body = (id: number) =>
    function* (kk: Kernel): Code<void> {
      for (let i = 0; i < iters; i++) {
        if (kk.bug === 'lost-update') {
          const v: number = yield load32(counter);
          yield compute(30);
          yield store32(counter, v + 1);
        } else {
          yield* acquire(kk, lk);
          const v: number = yield load32(counter);
          yield compute(30);
          yield store32(counter, v + 1);
          yield* release(kk, lk);
        }
        kk.progress++;
        yield compute(work + ((id * 7919 + i * 104729) % 997));
      }
    };
  const ts: Thread[] = [];
  for (let i = 0; i < threads; i++) ts.push(yield* spawn(k, `worker${i}`, body(i)));
  for (const t of ts) yield* join(k, t);
  const final: number = yield load32(counter);
  const expected = threads * iters;
  if (final !== expected) yield* kassert('lost-update', `counter is ${final}, expected ${expected} (${threads} threads x ${iters})`);
  yield* kprint(k, `LOCK: count ok ${final}\n`);
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
  const m: Mutex = yield* newMutex(k, 'm');
  let inside: Thread | null = null;
  let count = 0;
  const body = (id: number) =>
    function* (kk: Kernel, t: Thread): Code<void> {
      for (let i = 0; i < iters; i++) {
        yield* mutexLock(kk, m);
        if (inside !== null) yield* kassert('mutual-exclusion', `${t.name} entered while ${inside.name} is inside`);
        inside = t;
        yield compute(work + ((id * 7919 + i * 104729) % Math.max(1, work)));
        if (i % 2 === 0) yield* yieldCpu(kk);
        count++;
        inside = null;
        yield* mutexUnlock(kk, m);
        kk.progress++;
        yield compute(work + ((id * 104729 + i * 7919) % Math.max(1, 2 * work)));
      }
    };
  const ts: Thread[] = [];
  for (let i = 0; i < threads; i++) ts.push(yield* spawn(k, `locker${i}`, body(i)));
  for (const t of ts) yield* join(k, t);
  if (count !== threads * iters) yield* kassert('mutual-exclusion', `count ${count}, expected ${threads * iters}`);
  yield* kprint(k, `MUTEX: handoff ok ${count} handoffs=${m.handoffs} contended=${m.contended}\n`);
}

/** user: runs the ring-3 program prog=<name> (boot module /user/<name>) as the first process and waits for it. */
export function* userProgram(k: Kernel): Code<void> {
  const prog = k.opts.values.get('prog') ?? '';
  const arg = intOption(k.opts, 'arg', 0, 0, 0xffffffff);
  const p: Process | number = yield* createProcess(k, prog, null, arg);
  if (typeof p === 'number') return yield* kassert('sched-invariant', `cannot start program '${prog}': error ${p}`);
  const code: number = yield* waitChild(k, null, p.pid);
  yield* kprint(k, `PROC: ${prog} pid ${p.pid} exited with ${code}\n`);
}

export const KTESTS: Record<string, (k: Kernel) => Code<void>> = {
  user: userProgram,
  ticks: ticksTest,
  'two-threads': twoThreads,
  'lock-stress': lockStress,
  'mutex-handoff': mutexHandoff,
};
