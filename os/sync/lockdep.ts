// Lock checker (in the manner of Linux lockdep): lock-order cycles between
// lock classes, irq-unsafe locks taken in interrupt handlers, and sleeping
// while holding a spinlock. Recursive acquire and release by a non-owner are
// checked in spinlock.ts / mutex.ts. Each finding stops the run with a named
// KASSERT marker.
//
// Lock classes are lock names. An edge A -> B is recorded when B is acquired
// while A is held; acquiring B while holding A when B ->* A already exists
// is a potential ABBA deadlock, reported even if this run did not deadlock.
import type { PerCpu } from '../kstate.ts';
import type { Spinlock } from './spinlock.ts';

export interface LockProblem {
  name: string;
  detail: string;
}

/** What the checker knows of one lock class (a lock name). */
class LockClass {
  /** Taken in an interrupt handler; taken with interrupts enabled. */
  inIrq = false;
  irqsOn = false;
  /** Classes acquired while this one was held, in first-seen order. */
  readonly out = new Set<LockClass>();
  constructor(readonly name: string) {}
}

export class LockDep {
  private readonly classes = new Map<string, LockClass>();
  enabled = true;

  private classOf(name: string): LockClass {
    let cl = this.classes.get(name);
    if (cl === undefined) {
      cl = new LockClass(name);
      this.classes.set(name, cl);
    }
    return cl;
  }

  /** The class of spinlock `lk`, remembered on the lock (one map lookup per lock, not per acquire). */
  private classOfLock(lk: Spinlock): LockClass {
    if (lk.depOwner !== this) {
      lk.depOwner = this;
      lk.depClass = this.classOf(lk.name);
    }
    return lk.depClass as LockClass;
  }

  /** Called before spinning for `lk` on CPU `c`; `irqsOn` = interrupts enabled at this acquire. */
  onAcquire(c: PerCpu, lk: Spinlock, irqsOn: boolean): LockProblem | null {
    if (!this.enabled) return null;
    const cl = this.classOfLock(lk);
    if (c.current.irqDepth > 0) cl.inIrq = true;
    if (irqsOn) cl.irqsOn = true;
    if (cl.inIrq && cl.irqsOn) {
      return { name: 'irq-unsafe-lock', detail: `${cl.name} is taken in an interrupt handler and, elsewhere, with interrupts enabled (a handler can deadlock against its own CPU)` };
    }
    const held = c.held;
    for (let i = 0; i < held.length; i++) {
      const p = this.edge(this.classOfLock(held[i]), cl);
      if (p !== null) return p;
    }
    const mutexes = c.current.heldMutexes;
    for (let i = 0; i < mutexes.length; i++) {
      const p = this.addEdge((mutexes[i] as { name: string }).name, cl.name);
      if (p !== null) return p;
    }
    return null;
  }

  /** Records held -> next; returns a problem if next already reaches held. */
  addEdge(held: string, next: string): LockProblem | null {
    return this.edge(this.classOf(held), this.classOf(next));
  }

  private edge(held: LockClass, next: LockClass): LockProblem | null {
    if (held === next) return null; // same class, different instance: not tracked (no per-instance subclasses)
    if (held.out.has(next)) return null;
    const path = this.path(next, held);
    if (path !== null) {
      return { name: 'lock-order', detail: `acquiring ${next.name} while holding ${held.name}, but ${path.join(' -> ')} was seen before (ABBA deadlock)` };
    }
    held.out.add(next);
    return null;
  }

  /** A path from `a` to `b` in the order graph, as names, or null (BFS, deterministic order). */
  private path(a: LockClass, b: LockClass): string[] | null {
    const prev = new Map<LockClass, LockClass>();
    const queue = [a];
    const seen = new Set([a]);
    for (let qi = 0; qi < queue.length; qi++) {
      const x = queue[qi];
      if (x === b) {
        const p = [b.name];
        let y = b;
        while (y !== a) {
          y = prev.get(y)!;
          p.unshift(y.name);
        }
        return p;
      }
      for (const n of x.out) {
        if (!seen.has(n)) {
          seen.add(n);
          prev.set(n, x);
          queue.push(n);
        }
      }
    }
    return null;
  }

  /** Sleeping (blocking) with spinlocks other than `allowed` held is a bug. */
  checkSleep(c: PerCpu, allowed: readonly Spinlock[]): LockProblem | null {
    let ok = true;
    for (let i = 0; i < c.held.length && ok; i++) ok = allowed.includes(c.held[i]);
    if (ok) return null;
    const bad = c.held.filter((l) => !allowed.includes(l));
    return { name: 'sleep-while-spinlock', detail: `${c.current.name} sleeps while holding spinlock ${bad.map((l) => l.name).join(', ')}` };
  }
}
