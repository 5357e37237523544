// The scheduler core: kernel threads, context switch, yield, sleep/wakeup,
// exit/join, timed sleep, the per-CPU idle loop and the timer tick. The
// policy (policy.ts) only chooses; this file does the locking.
//
// Lock rules: schedLock guards k.threads, every thread's state/chan/wakeTick
// and the policy's queue. It is held across the context switch (xv6): the
// thread that switches away acquires it, the thread that resumes releases it.
// A thread calls switchAway with exactly schedLock held and interrupts off.
//
// Tracing: makeRunnable queues a Wake/Requeue/Spawn event in k.traceLog and
// traceFlush writes the queue to the paravirtual trace port (free OUTs, one
// batched op, see sim/x86/trace-port.ts) while schedLock is still held, from wakeup, spawn,
// the timer tick, the IPC paths and switchAway. switchAway flushes before it
// picks, so a thread's "runnable" event always precedes its switch-in; paths
// that wake without flushing (process exit, kill) are reported at the next
// flush on any CPU, a little late.
import { cli, compute, hlt, outsl, rdgsbase, rdtsc, sti, switchTo, writeCr, type Code, type OpRec } from '../../sim/ops.ts';
import { Stack } from '../../sim/x86/cpu.ts';
import { TRACE_PORT, TraceEvent, PickPrev, runnableWord, traceWord } from '../../sim/x86/trace-port.ts';
import { Thread, type Kernel, type PerCpu } from '../kstate.ts';
import { acquire, release } from '../sync/spinlock.ts';
import { kassert } from '../kassert.ts';
import { sendIpi, VEC_RESCHED } from '../arch/lapic.ts';
import { kprint } from '../console.ts';

/** The channel timed sleepers wait on. */
export const TICK_CHAN = { name: 'ticks' };

/** Describes a wait channel for reports. */
export function chanName(chan: unknown): string {
  if (chan instanceof Thread) return `thread ${chan.name}`;
  if (typeof chan === 'object' && chan !== null && 'name' in chan) return String((chan as { name: unknown }).name);
  return String(chan);
}

/** Creates a runnable kernel thread running `body`; it exits when `body` returns. */
export function* spawn(k: Kernel, name: string, body: (k: Kernel, t: Thread) => Code<void>, prio = 1, init?: (t: Thread) => void): Code<Thread> {
  const tid = k.nextTid++;
  let self: Thread | null = null;
  const stack = new Stack(tid, name, threadStart(k, () => self!, body));
  const t = new Thread(tid, name, stack);
  self = t;
  t.prio = prio;
  init?.(t);
  yield compute(200); // thread and stack set-up
  yield acquire(k, k.schedLock);
  k.threads.push(t);
  makeRunnable(k, t);
  if (k.traceLog.length > 0) yield traceFlush(k);
  yield release(k, k.schedLock);
  yield kickIdle(k, 1);
  return t;
}

/** First code of every new thread: it arrives from switchAway holding schedLock. */
function* threadStart(k: Kernel, self: () => Thread, body: (k: Kernel, t: Thread) => Code<void>): Code<void> {
  yield release(k, k.schedLock);
  yield sti();
  yield body(k, self());
  yield exitThread(k);
}

/** Marks `t` runnable and queues it (schedLock held). */
export function makeRunnable(k: Kernel, t: Thread): void {
  const code = t.state === 'sleeping' ? TraceEvent.Wake : t.state === 'running' ? TraceEvent.Requeue : TraceEvent.Spawn;
  t.state = 'runnable';
  t.runnableSinceTick = k.ticks;
  k.policy.enqueue(t, k.ticks);
  if (k.traceLog.length < 4096) k.traceLog.push(runnableWord(code, t.tid, k.policy.length));
}

/**
 * The op writing the queued scheduler events to the trace port (schedLock
 * held: no other CPU can queue meanwhile); yield it when the log is not
 * empty. One OUT per event, as one batched op (the code resumes once).
 */
export function traceFlush(k: Kernel): OpRec {
  return outsl(TRACE_PORT, k.traceLog.splice(0));
}

/**
 * Switches this CPU to the next thread the policy picks (or its idle
 * thread). The caller holds exactly schedLock, with interrupts off, and has
 * already set the current thread's new state. Returns when the current
 * thread is switched back to (possibly on another CPU).
 */
export function* switchAway(k: Kernel, c: PerCpu): Code<void> {
  if (c.held.length !== 1 || c.held[0] !== k.schedLock) yield kassert('sched-invariant', `switch with spinlocks held: ${c.held.map((l) => l.name).join(', ')}`);
  if (c.noff !== 1) yield kassert('sched-invariant', `switch with push_off depth ${c.noff}`);
  const prev = c.current;
  const next = k.policy.pickNext(c.index, k.ticks) ?? c.idle;
  const prevKind = prev.idle ? PickPrev.Idle : prev.state === 'sleeping' ? PickPrev.Sleeping : prev.state === 'zombie' ? PickPrev.Exited : PickPrev.Runnable;
  k.traceLog.push(traceWord(TraceEvent.Pick, Math.min(255, k.policy.length) | (prevKind << 8) | ((next === prev ? 1 : 0) << 10)));
  yield traceFlush(k); // the queued wakeups, then the pick
  if (next === prev) {
    prev.state = 'running';
    return;
  }
  const intena = c.intena;
  // Address space: a user thread runs on its process's page tables, a kernel thread on the kernel's.
  const cr3 = (next.proc as { pml4: number } | null)?.pml4 ?? k.kernelPml4;
  if (c.cr3 !== cr3) {
    yield writeCr(3, cr3);
    c.cr3 = cr3;
  }
  const now: number = yield rdtsc();
  prev.cpuCycles += now - prev.switchedInAt;
  next.state = 'running';
  next.cpu = c.index;
  next.lastRanTick = k.ticks;
  next.switchedInAt = now;
  c.current = next;
  yield switchTo(next.stack);
  const c2: PerCpu = k.cpus[(yield rdgsbase()) as number];
  c2.intena = intena;
}

/** Gives up the CPU: the current thread goes back to the run queue. */
export function* yieldCpu(k: Kernel): Code<void> {
  yield acquire(k, k.schedLock);
  const c: PerCpu = k.cpus[(yield rdgsbase()) as number];
  const t = c.current;
  if (!t.idle) {
    makeRunnable(k, t);
    yield switchAway(k, c);
  }
  yield release(k, k.schedLock);
}

/**
 * Atomically releases `lk` (a spinlock held by the caller, or schedLock
 * itself) and sleeps on `chan`; reacquires `lk` before returning. Sleeping
 * with any other spinlock held is a lock-checker finding.
 */
export function* sleep(k: Kernel, chan: unknown, lk: import('../sync/spinlock.ts').Spinlock | null, wakeTick = 0): Code<void> {
  const own = lk === k.schedLock;
  if (!own) {
    yield acquire(k, k.schedLock);
    if (lk !== null) yield release(k, lk);
  }
  const c: PerCpu = k.cpus[(yield rdgsbase()) as number];
  const problem = k.lockdep.checkSleep(c, [k.schedLock]);
  if (problem !== null) yield kassert(problem.name, problem.detail);
  const t = c.current;
  if (t.idle) yield kassert('sched-invariant', `idle thread ${t.name} tried to sleep on ${chanName(chan)}`);
  t.chan = chan;
  t.wakeTick = wakeTick;
  t.state = 'sleeping';
  yield switchAway(k, c);
  t.chan = null;
  t.wakeTick = 0;
  if (!own) {
    yield release(k, k.schedLock);
    if (lk !== null) yield acquire(k, lk);
  }
}

/** Wakes every thread sleeping on `chan` (schedLock held); returns how many. */
export function wakeupLocked(k: Kernel, chan: unknown): number {
  let n = 0;
  for (const t of k.threads) {
    if (t.state === 'sleeping' && t.chan === chan) {
      makeRunnable(k, t);
      n++;
    }
  }
  return n;
}

/** Wakes every thread sleeping on `chan` and kicks idle CPUs to run them. */
export function* wakeup(k: Kernel, chan: unknown): Code<number> {
  yield acquire(k, k.schedLock);
  const n = wakeupLocked(k, chan);
  if (k.traceLog.length > 0) yield traceFlush(k);
  yield release(k, k.schedLock);
  if (n > 0 && k.cpus.length > 1) yield kickIdle(k, n);
  return n;
}

/** Sends a reschedule IPI to up to `n` idle CPUs other than this one. */
export function* kickIdle(k: Kernel, n: number): Code<void> {
  if (k.cpus.length < 2) return;
  const self = (yield rdgsbase()) as number;
  for (const c of k.cpus) {
    if (n <= 0) break;
    if (c.index === self || !c.online || c.current !== c.idle) continue;
    yield sendIpi(k, c.lapicId, VEC_RESCHED);
    n--;
  }
}

/** Ends the current thread: it becomes a zombie, joiners wake, and the CPU moves on. Never returns. */
export function* exitThread(k: Kernel): Code<never> {
  yield acquire(k, k.schedLock);
  const c: PerCpu = k.cpus[(yield rdgsbase()) as number];
  const t = c.current;
  t.state = 'zombie';
  wakeupLocked(k, t);
  yield switchAway(k, c);
  return (yield kassert('sched-invariant', `zombie thread ${t.name} was scheduled again`)) as never;
}

/** Waits until `t` has exited, then forgets it. */
export function* join(k: Kernel, t: Thread): Code<void> {
  yield acquire(k, k.schedLock);
  while (t.state !== 'zombie') yield sleep(k, t, k.schedLock);
  k.threads = k.threads.filter((x) => x !== t);
  yield release(k, k.schedLock);
}

/** Sleeps for `n` timer ticks. */
export function* sleepTicks(k: Kernel, n: number): Code<void> {
  yield acquire(k, k.schedLock);
  const until = k.ticks + n;
  while (k.ticks < until) yield sleep(k, TICK_CHAN, k.schedLock, until);
  yield release(k, k.schedLock);
}

/** Sleeps until the global tick count reaches `tick`. */
export function* sleepUntilTick(k: Kernel, tick: number): Code<void> {
  yield acquire(k, k.schedLock);
  while (k.ticks < tick) yield sleep(k, TICK_CHAN, k.schedLock, tick);
  yield release(k, k.schedLock);
}

/** A CPU's idle loop: run whatever is runnable, else halt until an interrupt. Checks and halts with interrupts off (sti; hlt is atomic), so no wakeup is lost. */
export function* idleLoop(k: Kernel): Code<never> {
  for (;;) {
    yield cli();
    yield acquire(k, k.schedLock);
    const c: PerCpu = k.cpus[(yield rdgsbase()) as number];
    const any = k.policy.length > 0;
    if (any) yield switchAway(k, c);
    yield release(k, k.schedLock);
    if (!any) {
      yield sti();
      yield hlt();
    }
  }
}

/** Timer tick on CPU `c` (called from the timer interrupt after EOI): global ticks, timed wakeups, checkers, preemption. */
export function* timerTick(k: Kernel): Code<void> {
  yield acquire(k, k.schedLock);
  const c: PerCpu = k.cpus[(yield rdgsbase()) as number];
  c.timerTicks++;
  let woke = 0;
  let userDeadlock = '';
  if (c.index === 0) {
    yield acquire(k, k.statsLock);
    k.statTicks++;
    yield release(k, k.statsLock);
    k.ticks++;
    for (const t of k.threads) {
      if (t.state === 'sleeping' && t.chan === TICK_CHAN && t.wakeTick <= k.ticks) {
        makeRunnable(k, t);
        woke++;
      }
    }
    const problem = checkProgress(k);
    if (problem !== null && problem[0] === 'user-deadlock') {
      // Kill the deadlocked processes: every thread of theirs leaves at its next kernel boundary.
      const procs = new Set((problem[2] as Thread[]).map((t) => t.proc));
      for (const t of k.threads) {
        if (t.proc !== null && procs.has(t.proc)) {
          t.killed = true;
          if (t.state === 'sleeping') makeRunnable(k, t);
        }
      }
      userDeadlock = problem[1];
      woke++;
    } else if (problem !== null) yield kassert(problem[0], problem[1]);
    if (k.ticks % 100 === 0 && k.opts.values.get('test') === 'ticks') yield kprint(k, `TICK: ${k.ticks}\n`);
  }
  const t = c.current;
  if (!t.idle) {
    t.cpuTicks++;
    if (k.policy.tick(t, c.index, k.ticks)) {
      makeRunnable(k, t);
      yield switchAway(k, c);
    }
  } else if (k.policy.length > 0) {
    yield switchAway(k, c);
  }
  if (k.traceLog.length > 0) yield traceFlush(k);
  yield release(k, k.schedLock);
  if (userDeadlock !== '') yield kprint(k, `USER: deadlock, killing the processes: ${userDeadlock}\n`);
  if (woke > 0 && k.cpus.length > 1) yield kickIdle(k, woke);
}

/** Whether sleeping thread `t` waits for something that has already happened (a lost wakeup: a kernel bug). */
function lostWakeup(t: Thread): string | null {
  const chan = t.chan as { count?: number; cap?: number; spaceChan?: unknown; state?: string } | null;
  if (chan === null || typeof chan !== 'object') return null;
  if ('spaceChan' in chan && typeof chan.count === 'number' && chan.count > 0) return `${t.name} sleeps on ${chanName(chan)} although it holds ${chan.count} message(s)`;
  if (chan instanceof Thread && chan !== t && chan.state === 'zombie') return `${t.name} waits for ${chan.name}, which already exited`;
  // A wait channel may say itself what it waits for has happened (e.g. a block request that completed).
  const own = (chan as { lostWakeup?: unknown }).lostWakeup;
  if (typeof own === 'function') {
    const why = (own as () => string | null).call(chan);
    if (why !== null) return `${t.name} sleeps on ${chanName(chan)}, ${why}`;
  }
  return null;
}

/**
 * Deadlock, starvation and progress checks, on CPU 0's tick with schedLock
 * held. A deadlock of kernel threads, or any lost wakeup, is a kernel bug
 * (KASSERT). A deadlock made only of user threads in waits they asked for
 * (IPC, wait) is the programs' own: their processes are killed and the
 * kernel carries on (a user program must never panic the kernel).
 */
function checkProgress(k: Kernel): [string, string] | ['user-deadlock', string, Thread[]] | null {
  if (k.progress !== k.lastProgress) {
    k.lastProgress = k.progress;
    k.lastProgressTick = k.ticks;
  }
  const allIdle = k.cpus.every((c) => !c.online || c.current === c.idle);
  if (allIdle && k.policy.length === 0 && k.ioInFlight === 0) {
    const blocked = k.threads.filter((t) => t.state === 'sleeping');
    if (blocked.length > 0 && blocked.every((t) => t.chan !== TICK_CHAN)) {
      const desc = blocked.map((t) => `${t.name} on ${chanName(t.chan)}`).join(', ');
      for (const t of blocked) {
        const lost = lostWakeup(t);
        if (lost !== null) return ['deadlock', `lost wakeup: ${lost} (blocked: ${desc})`];
      }
      const users = blocked.filter((t) => t.proc !== null);
      const kernelOk = blocked.every((t) => t.proc !== null || (typeof t.chan === 'object' && t.chan !== null && 'pml4' in t.chan));
      if (users.length > 0 && kernelOk) return ['user-deadlock', desc, users];
      return ['deadlock', `no runnable thread and nothing can wake: ${desc}`];
    }
  }
  if (k.watchdogTicks > 0) {
    for (const t of k.policy.queued()) {
      if (k.ticks - t.runnableSinceTick > k.watchdogTicks) return ['starvation', `${t.name} runnable for ${k.ticks - t.runnableSinceTick} ticks without running (bound ${k.watchdogTicks})`];
    }
    if (k.ticks - k.lastProgressTick > k.watchdogTicks) return ['watchdog', `no progress for ${k.ticks - k.lastProgressTick} ticks (bound ${k.watchdogTicks})`];
  }
  return null;
}
