// Round-robin: one FIFO run queue shared by all CPUs; a thread runs for a
// quantum of `quantum` ticks (default 1, as xv6), then goes to the back.
import type { Thread } from '../kstate.ts';
import type { SchedPolicy } from './policy.ts';

export class RoundRobin implements SchedPolicy {
  readonly name = 'rr';
  private q: Thread[] = [];

  constructor(private readonly quantum = 1) {}

  get length(): number {
    return this.q.length;
  }

  enqueue(t: Thread): void {
    t.quantumLeft = this.quantum;
    this.q.push(t);
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
