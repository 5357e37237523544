// Round-robin: one FIFO run queue shared by all CPUs; a thread runs for a
// quantum of `quantum` ticks (default 1, as xv6), then goes to the back.
import type { Thread } from '../kstate.ts';
import type { SchedPolicy } from './policy.ts';

export class RoundRobin implements SchedPolicy {
  readonly name = 'rr';
  private q: Thread[] = [];

  /** `lifo` plants the starvation bug: threads are pushed at the head, so a preempted thread runs again at once. */
  constructor(
    private readonly quantum = 1,
    private readonly lifo = false,
  ) {}

  get length(): number {
    return this.q.length;
  }

  enqueue(t: Thread): void {
    t.quantumLeft = this.quantum;
    if (this.lifo) this.q.unshift(t); // BUG (starvation): push instead of append
    else this.q.push(t);
  }

  pickNext(): Thread | null {
    return this.q.shift() ?? null;
  }

  tick(t: Thread): boolean {
    t.quantumLeft--;
    return t.quantumLeft <= 0;
  }

  queued(): readonly Thread[] {
    return this.q;
  }
}
