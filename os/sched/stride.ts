// Stride scheduling (Waldspurger & Weihl, OSDI 1994): each thread holds
// tickets (its priority, 1..), its stride is STRIDE1 / tickets, and the
// runnable thread with the smallest pass runs next; each tick of CPU time
// adds one stride to its pass. CPU time ends up proportional to tickets.
// A thread that wakes up starts at the global pass so sleeping earns no credit.
import type { Thread } from '../kstate.ts';
import type { SchedPolicy } from './policy.ts';

const STRIDE1 = 1 << 20;

export class Stride implements SchedPolicy {
  readonly name = 'stride';
  private q: Thread[] = [];
  private globalPass = 0;

  constructor(private readonly quantum = 1) {}

  get length(): number {
    return this.q.length;
  }

  private stride(t: Thread): number {
    return Math.floor(STRIDE1 / Math.max(1, t.prio));
  }

  enqueue(t: Thread): void {
    if (t.pass < this.globalPass) t.pass = this.globalPass;
    t.quantumLeft = this.quantum;
    this.q.push(t);
  }

  pickNext(): Thread | null {
    if (this.q.length === 0) return null;
    let best = 0;
    for (let i = 1; i < this.q.length; i++) {
      const a = this.q[i];
      const b = this.q[best];
      if (a.pass < b.pass || (a.pass === b.pass && a.tid < b.tid)) best = i;
    }
    const t = this.q.splice(best, 1)[0];
    this.globalPass = Math.max(this.globalPass, t.pass);
    return t;
  }

  tick(t: Thread): boolean {
    t.pass += this.stride(t);
    t.quantumLeft--;
    return t.quantumLeft <= 0;
  }

  queued(): readonly Thread[] {
    return this.q;
  }
}
