// Unit tests for sim/event-queue.ts: (cycle, seq) ordering, FIFO ties, a
// fast-check model test against a stable sort, limits and bad inputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventQueue } from '../../sim/event-queue.ts';

/** Pops everything, returning [cycle, label] pairs in pop order. */
function drain(q: EventQueue, fired: string[]): [number, string][] {
  const out: [number, string][] = [];
  while (q.size > 0) {
    const t = q.peekCycles();
    const before = fired.length;
    q.pop()(t);
    expect(fired.length).toBe(before + 1);
    out.push([t, fired[fired.length - 1]]);
  }
  return out;
}

describe('EventQueue', () => {
  it('pops events in cycle order regardless of push order', () => {
    const q = new EventQueue();
    const fired: string[] = [];
    for (const [t, name] of [
      [50, 'e'],
      [10, 'a'],
      [40, 'd'],
      [20, 'b'],
      [30, 'c'],
      [0, 'z'],
    ] as const) {
      q.push(t, () => fired.push(name));
    }
    expect(q.size).toBe(6);
    expect(q.peekCycles()).toBe(0);
    expect(drain(q, fired)).toEqual([
      [0, 'z'],
      [10, 'a'],
      [20, 'b'],
      [30, 'c'],
      [40, 'd'],
      [50, 'e'],
    ]);
    expect(q.peekCycles()).toBe(Infinity);
  });

  it('runs ties first in, first out', () => {
    const q = new EventQueue();
    const fired: string[] = [];
    // Interleave two cycles so the heap has to reorder, and many ties at each.
    for (let i = 0; i < 20; i++) {
      q.push(100, () => fired.push(`a${i}`));
      q.push(7, () => fired.push(`b${i}`));
    }
    drain(q, fired);
    expect(fired).toEqual([...Array.from({ length: 20 }, (_, i) => `b${i}`), ...Array.from({ length: 20 }, (_, i) => `a${i}`)]);
  });

  it('passes the firing cycle to the action and returns increasing sequence numbers', () => {
    const q = new EventQueue();
    const seen: number[] = [];
    const s1 = q.push(5, (now) => seen.push(now));
    const s2 = q.push(3, (now) => seen.push(now));
    expect(s2).toBeGreaterThan(s1);
    while (q.size > 0) {
      const t = q.peekCycles();
      q.pop()(t);
    }
    expect(seen).toEqual([3, 5]);
  });

  it('cancel turns a pending event into a no-op and reports whether it was pending', () => {
    const q = new EventQueue();
    const fired: string[] = [];
    q.push(1, () => fired.push('a'));
    const s = q.push(2, () => fired.push('b'));
    q.push(3, () => fired.push('c'));
    expect(q.cancel(s)).toBe(true);
    expect(q.cancel(12345)).toBe(false);
    while (q.size > 0) q.pop()(0);
    expect(fired).toEqual(['a', 'c']);
    expect(q.cancel(s)).toBe(false);
  });

  it('matches a stable sort by (cycle, insertion) under interleaved push and pop (fast-check)', () => {
    type Cmd = { kind: 'push'; cycle: number } | { kind: 'pop' };
    const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }).map((cycle) => ({ kind: 'push' as const, cycle })) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 1_000_000_000 }).map((cycle) => ({ kind: 'push' as const, cycle })) },
      { weight: 3, arbitrary: fc.constant({ kind: 'pop' as const }) },
    );
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 300 }), (cmds) => {
        const q = new EventQueue();
        // Reference: pending list kept in insertion order; the next is the
        // first element with the smallest cycle (what a stable sort puts first).
        const ref: { cycle: number; id: number }[] = [];
        let nextId = 0;
        let lastFired = -1;
        const fire = (id: number) => () => {
          lastFired = id;
        };
        for (const c of cmds) {
          if (c.kind === 'push') {
            const id = nextId++;
            q.push(c.cycle, fire(id));
            ref.push({ cycle: c.cycle, id });
          } else {
            if (ref.length === 0) {
              expect(() => q.pop()).toThrow();
              continue;
            }
            let best = 0;
            for (let i = 1; i < ref.length; i++) if (ref[i].cycle < ref[best].cycle) best = i;
            const want = ref.splice(best, 1)[0];
            expect(q.peekCycles()).toBe(want.cycle);
            q.pop()(want.cycle);
            expect(lastFired).toBe(want.id);
          }
          expect(q.size).toBe(ref.length);
        }
        // Drain the rest: the full stable sort by cycle.
        const rest = [...ref].sort((a, b) => a.cycle - b.cycle);
        for (const want of rest) {
          expect(q.peekCycles()).toBe(want.cycle);
          q.pop()(want.cycle);
          expect(lastFired).toBe(want.id);
        }
        expect(q.size).toBe(0);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('throws when full (capacity limit) and accepts again after a pop', () => {
    const q = new EventQueue(4);
    expect(q.capacity).toBe(4);
    for (let i = 0; i < 4; i++) q.push(i, () => {});
    expect(() => q.push(9, () => {})).toThrow(/full/);
    expect(q.size).toBe(4);
    q.pop();
    expect(() => q.push(9, () => {})).not.toThrow();
    expect(q.size).toBe(4);
  });

  it('refuses bad times: negative, fractional, NaN, infinite, unsafe', () => {
    const q = new EventQueue();
    for (const t of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
      expect(() => q.push(t, () => {}), `time ${t}`).toThrow(/non-negative integer/);
    }
    expect(q.size).toBe(0);
    expect(() => q.push(0, () => {})).not.toThrow();
    expect(() => q.push(Number.MAX_SAFE_INTEGER, () => {})).not.toThrow();
  });

  it('pop on an empty queue throws', () => {
    expect(() => new EventQueue().pop()).toThrow(/empty/);
  });
});
