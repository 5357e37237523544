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

export class LockDep {
  private readonly edges = new Map<string, Set<string>>();
  /** Classes taken in interrupt context, and with interrupts enabled. */
  private readonly inIrq = new Set<string>();
  private readonly irqsOn = new Set<string>();
  enabled = true;

  /** Called before spinning for `lk` on CPU `c`; `irqsOn` = interrupts enabled at this acquire. */
  onAcquire(c: PerCpu, lk: Spinlock, irqsOn: boolean): LockProblem | null {
    if (!this.enabled) return null;
    const cls = lk.name;
    const inIrq = c.current.irqDepth > 0;
    if (inIrq) this.inIrq.add(cls);
    if (irqsOn) this.irqsOn.add(cls);
    if (this.inIrq.has(cls) && this.irqsOn.has(cls)) {
      return { name: 'irq-unsafe-lock', detail: `${cls} is taken in an interrupt handler and, elsewhere, with interrupts enabled (a handler can deadlock against its own CPU)` };
    }
    for (const h of c.held) {
      const p = this.addEdge(h.name, cls);
      if (p !== null) return p;
    }
    for (const m of c.current.heldMutexes) {
      const p = this.addEdge((m as { name: string }).name, cls);
      if (p !== null) return p;
    }
    return null;
  }

  /** Records held -> next; returns a problem if next already reaches held. */
  addEdge(held: string, next: string): LockProblem | null {
    if (held === next) return null; // same class, different instance: not tracked (no per-instance subclasses)
    let out = this.edges.get(held);
    if (out?.has(next)) return null;
    const path = this.path(next, held);
    if (path !== null) {
      return { name: 'lock-order', detail: `acquiring ${next} while holding ${held}, but ${path.join(' -> ')} was seen before (ABBA deadlock)` };
    }
    if (out === undefined) {
      out = new Set();
      this.edges.set(held, out);
    }
    out.add(next);
    return null;
  }

  /** A path from `a` to `b` in the order graph, or null (BFS, deterministic order). */
  private path(a: string, b: string): string[] | null {
    const prev = new Map<string, string>();
    const queue = [a];
    const seen = new Set([a]);
    while (queue.length > 0) {
      const x = queue.shift()!;
      if (x === b) {
        const p = [b];
        let y = b;
        while (y !== a) {
          y = prev.get(y)!;
          p.unshift(y);
        }
        return p;
      }
      for (const n of this.edges.get(x) ?? []) {
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
    const bad = c.held.filter((l) => !allowed.includes(l));
    if (bad.length === 0) return null;
    return { name: 'sleep-while-spinlock', detail: `${c.current.name} sleeps while holding spinlock ${bad.map((l) => l.name).join(', ')}` };
  }
}
