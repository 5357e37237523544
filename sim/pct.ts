// PCT: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
// Nagarakatte, ASPLOS 2010), as a decision source. Every thread gets a
// random priority (>= d) when first seen; d-1 priority change points are
// drawn uniformly over the first `steps` scheduling steps; at each Pick
// decision the candidate whose thread has the highest priority runs, and at
// the i-th change point the thread chosen is demoted to priority d-1-i
// (below every initial priority). For a bug of depth d among n threads and
// k steps, one run finds it with probability >= 1/(n * k^(d-1)).
// Here a "step" is a Pick decision: which of the CPUs ready within the pick
// window runs its next op. Other sites (jitter, interrupt landing, device
// latency) are answered by a RandomSource of the same seed, so PCT on one
// CPU still perturbs where interrupts land.
import { RandomSource, Site, type DecisionSource, type PickContext } from './decisions.ts';
import { forkStream, type Stream } from './prng.ts';

export class PctSource implements DecisionSource {
  readonly kind = 'pct';
  private readonly prio = new Map<number, number>();
  private readonly changes: number[];
  private readonly rng: Stream;
  private readonly fallback: RandomSource;
  /** Scheduling steps taken (Pick decisions). */
  step = 0;
  private nextChange = 0;

  /** Distinct threads seen at Pick decisions (PCT's n). */
  get threadsSeen(): number {
    return this.prio.size;
  }

  constructor(
    seed: number,
    readonly depth: number,
    readonly steps: number,
  ) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`PCT depth must be an integer >= 1, got ${depth}`);
    this.rng = forkStream(seed, 'pct');
    this.fallback = new RandomSource(seed);
    const k = Math.max(1, Math.floor(steps));
    const cps: number[] = [];
    for (let i = 0; i < depth - 1; i++) cps.push(1 + Math.floor(this.rng() * k));
    this.changes = cps.sort((a, b) => a - b);
  }

  private priorityOf(tid: number): number {
    let p = this.prio.get(tid);
    if (p === undefined) {
      // Random initial priority above every change-point priority; ties broken by thread id.
      p = this.depth + this.rng() * 1e6 + tid * 1e-9;
      this.prio.set(tid, p);
    }
    return p;
  }

  choose(index: number, site: number, n: number, ctx?: PickContext): number {
    if (site !== Site.Pick || ctx === undefined) return this.fallback.choose(index, site, n);
    this.step++;
    let best = 0;
    let bestP = -Infinity;
    for (let i = 0; i < ctx.candidates.length; i++) {
      const p = this.priorityOf(ctx.candidates[i]);
      if (p > bestP) {
        bestP = p;
        best = i;
      }
    }
    while (this.nextChange < this.changes.length && this.changes[this.nextChange] <= this.step) {
      // Change point: demote the thread about to run below all initial priorities.
      this.prio.set(ctx.candidates[best], this.depth - 1 - this.nextChange);
      this.nextChange++;
    }
    return best;
  }
}
