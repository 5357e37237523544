// Event queue: a binary min-heap ordered by (cycle, seq). Ties run first in,
// first out, because seq grows with every push. Nothing orders by floats,
// object identity or wall-clock time (DESIGN.md, "Execution model").

/** What an event does when it fires: called with the cycle it fires at. */
export type EventAction = (nowCycles: number) => void;

/** The run hit the event-queue limit (a simulator limit, not a guest crash). */
export class QueueFullError extends Error {}

export class EventQueue {
  private cycles: number[] = [];
  private seqs: number[] = [];
  private actions: EventAction[] = [];
  private nextSeq = 0;
  /** Hard limit on pending events (TigerBeetle style: a limit on everything). */
  readonly capacity: number;

  constructor(capacity = 1 << 20) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.cycles.length;
  }

  /** Schedules `action` at integer cycle `atCycles`; returns its sequence number (cancellation handle). */
  push(atCycles: number, action: EventAction): number {
    if (!Number.isSafeInteger(atCycles) || atCycles < 0) throw new Error(`event time must be a non-negative integer cycle, got ${atCycles}`);
    if (this.cycles.length >= this.capacity) throw new QueueFullError(`event queue full (${this.capacity} events): a device or timer is scheduling without bound`);
    const seq = this.nextSeq++;
    let i = this.cycles.length;
    this.cycles.push(atCycles);
    this.seqs.push(seq);
    this.actions.push(action);
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(i, p)) {
        this.swap(i, p);
        i = p;
      } else break;
    }
    return seq;
  }

  /** Cycle of the earliest event, or Infinity when empty. */
  peekCycles(): number {
    return this.cycles.length === 0 ? Infinity : this.cycles[0];
  }

  /** Removes the earliest event; returns its action (the caller reads the time with peekCycles first). */
  pop(): EventAction {
    const n = this.cycles.length;
    if (n === 0) throw new Error('pop from an empty event queue');
    const top = this.actions[0];
    const lastC = this.cycles.pop()!;
    const lastS = this.seqs.pop()!;
    const lastA = this.actions.pop()!;
    if (n > 1) {
      this.cycles[0] = lastC;
      this.seqs[0] = lastS;
      this.actions[0] = lastA;
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let s = i;
        if (l < m && this.less(l, s)) s = l;
        if (r < m && this.less(r, s)) s = r;
        if (s === i) break;
        this.swap(i, s);
        i = s;
      }
    }
    return top;
  }

  /** Cancels the pending event with sequence number `seq`; returns whether it was pending. O(n). */
  cancel(seq: number): boolean {
    const i = this.seqs.indexOf(seq);
    if (i < 0) return false;
    // Replace by a no-op: keeps the heap valid without re-sifting.
    this.actions[i] = noop;
    return true;
  }

  private less(a: number, b: number): boolean {
    const ca = this.cycles[a];
    const cb = this.cycles[b];
    return ca < cb || (ca === cb && this.seqs[a] < this.seqs[b]);
  }

  private swap(a: number, b: number): void {
    const c = this.cycles[a];
    this.cycles[a] = this.cycles[b];
    this.cycles[b] = c;
    const s = this.seqs[a];
    this.seqs[a] = this.seqs[b];
    this.seqs[b] = s;
    const x = this.actions[a];
    this.actions[a] = this.actions[b];
    this.actions[b] = x;
  }
}

function noop(): void {}
