// Sleeping mutex with a FIFO wait queue and direct handoff: unlock passes
// ownership to the longest waiter, so no thread can barge ahead of one that
// waits (no starvation). Guarded by its own spinlock `lk` (owner, waiters).
//
// Planted bug `lost-wakeup` (off unless bug=lost-wakeup): a contended lock()
// queues itself, drops lk and only then sleeps, without re-checking (check
// then sleep outside the lock): an unlock that hands it the mutex in that
// window wakes a thread that is not asleep yet, and it then sleeps forever.
import type { Code } from '../../sim/ops.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { acquire, mythread, newSpinlock, release, type Spinlock } from './spinlock.ts';
import { sleep, wakeup } from '../sched/sched.ts';
import { kassert } from '../kassert.ts';

export class Mutex {
  owner: Thread | null = null;
  readonly waiters: Thread[] = [];
  handoffs = 0;
  contended = 0;

  constructor(
    readonly name: string,
    readonly lk: Spinlock,
  ) {}
}

export function* newMutex(k: Kernel, name: string): Code<Mutex> {
  return new Mutex(name, yield newSpinlock(k, `${name}.lk`));
}

export function* mutexLock(k: Kernel, m: Mutex): Code<void> {
  const t: Thread = yield mythread(k);
  if (m.owner === t) yield kassert('recursive-acquire', `mutex ${m.name} locked again by ${t.name}`);
  for (const h of t.heldMutexes) {
    const p = k.lockdep.addEdge((h as Mutex).name, m.name);
    if (p !== null) yield kassert(p.name, p.detail);
  }
  yield acquire(k, m.lk);
  if (m.owner === null) m.owner = t;
  else {
    m.contended++;
    m.waiters.push(t);
    if (k.bug === 'lost-wakeup') {
      // BUG: drops lk, then sleeps without re-checking: an unlock that hands
      // the mutex to t in between finds t still running, its wakeup is lost,
      // and t sleeps forever while owning the mutex.
      yield release(k, m.lk);
      do yield sleep(k, t, null);
      while (m.owner !== t);
      yield acquire(k, m.lk);
    } else {
      while (m.owner !== t) yield sleep(k, t, m.lk);
    }
  }
  yield release(k, m.lk);
  t.heldMutexes.push(m);
}

export function* mutexUnlock(k: Kernel, m: Mutex): Code<void> {
  const t: Thread = yield mythread(k);
  yield acquire(k, m.lk);
  if (m.owner !== t) yield kassert('release-non-owner', `mutex ${m.name} unlocked by ${t.name}, owner ${m.owner?.name ?? 'none'}`);
  const i = t.heldMutexes.lastIndexOf(m);
  if (i >= 0) t.heldMutexes.splice(i, 1);
  const next = m.waiters.shift() ?? null;
  m.owner = next;
  if (next !== null) {
    m.handoffs++;
    yield wakeup(k, next);
  }
  yield release(k, m.lk);
}
