// Unit tests for sim/prng.ts (forked streams, seeds) and sim/decisions.ts
// (random source, Decider recording, replay and divergence).
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { AleaStream, below, forkStream, parseSeed } from '../../sim/prng.ts';
import { Decider, NominalSource, RandomSource, ReplaySource, Site, allSites, siteByName, siteInfo, type DecisionSource } from '../../sim/decisions.ts';

function take(s: () => number, n: number): number[] {
  return Array.from({ length: n }, () => s());
}

describe('forkStream', () => {
  it('is deterministic: same seed and family give the same sequence', () => {
    const a = take(forkStream(42, 'cpu'), 100);
    const b = take(forkStream(42, 'cpu'), 100);
    expect(a).toEqual(b);
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
    // Not a constant stream.
    expect(new Set(a).size).toBeGreaterThan(90);
  });

  it('numeric and string seeds with the same text fork the same stream', () => {
    expect(take(forkStream(7, 'x'), 10)).toEqual(take(forkStream('7', 'x'), 10));
  });

  it('different seeds or different families give different sequences', () => {
    const base = take(forkStream(42, 'cpu'), 20);
    expect(take(forkStream(43, 'cpu'), 20)).not.toEqual(base);
    expect(take(forkStream(42, 'irq'), 20)).not.toEqual(base);
  });

  it('streams are independent: consuming from family A does not change family B', () => {
    const bAlone = take(forkStream(99, 'B'), 50);
    const a = forkStream(99, 'A');
    const b = forkStream(99, 'B');
    const out: number[] = [];
    // Interleave heavy consumption of A with B.
    for (let i = 0; i < 50; i++) {
      take(a, 1 + (i % 7) * 13);
      out.push(b());
    }
    expect(out).toEqual(bAlone);
  });

  it('below(stream, n) stays in [0, n) and is deterministic', () => {
    const s1 = forkStream(5, 'below');
    const s2 = forkStream(5, 'below');
    const xs = Array.from({ length: 500 }, () => below(s1, 6));
    expect(xs).toEqual(Array.from({ length: 500 }, () => below(s2, 6)));
    for (const x of xs) expect(Number.isInteger(x) && x >= 0 && x < 6).toBe(true);
    expect(new Set(xs).size).toBe(6);
  });
});

describe('AleaStream', () => {
  it("gives exactly seedrandom's Alea numbers for the seed string of the same seed and family; so does forkStream", () => {
    for (const [seed, family] of [[1, 'decisions/sched'], [0, 'pct'], ['0x2a', 'x'], [2 ** 53 - 1, 'decisions/devices']] as const) {
      const reference = seedrandom.alea(`rugo-sim/${String(seed)}/${family}`);
      const want = take(() => reference(), 5000);
      const a = new AleaStream(seed, family);
      expect(take(() => a.next(), 5000)).toEqual(want);
      expect(take(forkStream(seed, family), 5000)).toEqual(want);
    }
  });
});

describe('parseSeed', () => {
  it('accepts decimal and 0x hex, with surrounding whitespace', () => {
    expect(parseSeed('0')).toBe(0);
    expect(parseSeed('42')).toBe(42);
    expect(parseSeed('0x2a')).toBe(42);
    expect(parseSeed('0xDEADbeef')).toBe(0xdeadbeef);
    expect(parseSeed('  123 ')).toBe(123);
    expect(parseSeed(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('rejects junk, signs, fractions, exponents and unsafe integers', () => {
    for (const t of ['', ' ', 'abc', '-1', '+1', '1.5', '1e3', '0x', '0xg1', '12abc', '0b101', 'NaN', 'Infinity', '9007199254740993', '0x20000000000000']) {
      expect(parseSeed(t), JSON.stringify(t)).toBeNull();
    }
  });
});

/** A scripted source: answers from a list (cycling), recording what it was asked. */
class ScriptSource implements DecisionSource {
  readonly kind = 'script';
  readonly asked: { index: number; site: number; n: number }[] = [];
  private i = 0;
  constructor(private readonly answers: number[]) {}
  choose(index: number, site: number, n: number): number {
    this.asked.push({ index, site, n });
    return this.answers[this.i++ % this.answers.length];
  }
}

/** A fixed workload of decision requests: [site, n] pairs. */
const WORKLOAD: [number, number][] = Array.from({ length: 3000 }, (_, i) => {
  const sites = [Site.Jitter, Site.IrqDelay, Site.Pick, Site.DeviceLatency, Site.Fault];
  return [sites[(i * 7) % sites.length], 2 + (i % 5)];
});

function runWorkload(d: Decider, work: [number, number][] = WORKLOAD): number[] {
  return work.map(([site, n]) => d.decide(site, n));
}

describe('decision sites', () => {
  it('have dense ids and can be looked up by name and id', () => {
    const all = allSites();
    all.forEach((s, i) => expect(s.id).toBe(i));
    expect(siteByName('jitter')?.id).toBe(Site.Jitter);
    expect(siteInfo(Site.Pick)?.name).toBe('pick');
    expect(siteInfo(9999)).toBeUndefined();
  });
});

describe('RandomSource', () => {
  it('is deterministic per seed', () => {
    const a = runWorkload(new Decider(new RandomSource(1234)));
    const b = runWorkload(new Decider(new RandomSource(1234)));
    expect(a).toEqual(b);
    expect(a.some((v) => v !== 0)).toBe(true);
    expect(a.filter((v) => v === 0).length).toBeGreaterThan(a.length / 2); // mostly nominal
  });

  it('different seeds give different schedules', () => {
    expect(runWorkload(new Decider(new RandomSource(1)))).not.toEqual(runWorkload(new Decider(new RandomSource(2))));
  });

  it('answers stay in range and a zero-rate site (fault) is always nominal', () => {
    const d = new Decider(new RandomSource(77, 1000));
    WORKLOAD.forEach(([site, n]) => {
      const v = d.decide(site, n);
      expect(v >= 0 && v < n && Number.isInteger(v)).toBe(true);
      if (site === Site.Fault) expect(v).toBe(0);
    });
  });

  it('one site family does not perturb another (per-family streams)', () => {
    // Jitter answers are the same whether or not irq-delay decisions are interleaved.
    const jitterOnly = new Decider(new RandomSource(5, 10));
    const a = Array.from({ length: 200 }, () => jitterOnly.decide(Site.Jitter, 4));
    const mixed = new Decider(new RandomSource(5, 10));
    const b: number[] = [];
    for (let i = 0; i < 200; i++) {
      mixed.decide(Site.IrqDelay, 4);
      mixed.decide(Site.Pick, 3);
      b.push(mixed.decide(Site.Jitter, 4));
    }
    expect(b).toEqual(a);
    expect(a.some((v) => v !== 0)).toBe(true);
  });
});

describe('Decider', () => {
  it('records only non-zero decisions with their ordinal, and skips n <= 1', () => {
    const src = new ScriptSource([0, 2, 0, 1, 0]);
    const d = new Decider(src);
    expect(d.decide(Site.Jitter, 4)).toBe(0); // at 0
    expect(d.decide(Site.Pick, 1)).toBe(0); // n <= 1: not asked, not counted
    expect(d.decide(Site.Pick, 0)).toBe(0);
    expect(d.decide(Site.IrqDelay, 4)).toBe(2); // at 1
    expect(d.decide(Site.Jitter, 4)).toBe(0); // at 2
    expect(d.decide(Site.Pick, 3)).toBe(1); // at 3
    expect(d.decide(Site.Jitter, 4)).toBe(0); // at 4
    expect(d.count).toBe(5);
    expect(src.asked.map((a) => a.index)).toEqual([0, 1, 2, 3, 4]);
    expect(d.recorded).toEqual([
      { at: 1, site: Site.IrqDelay, value: 2 },
      { at: 3, site: Site.Pick, value: 1 },
    ]);
    expect(d.perSite[Site.Jitter]).toBe(3);
    expect(d.perSite[Site.Pick]).toBe(1);
    expect(d.perSite[Site.IrqDelay]).toBe(1);
  });

  it('throws when a source answers out of range', () => {
    expect(() => new Decider(new ScriptSource([5])).decide(Site.Jitter, 4)).toThrow(/answered 5/);
    expect(() => new Decider(new ScriptSource([-1])).decide(Site.Jitter, 4)).toThrow();
    expect(() => new Decider(new ScriptSource([1.5])).decide(Site.Jitter, 4)).toThrow();
  });

  it('NominalSource always answers 0 and records nothing', () => {
    const d = new Decider(new NominalSource());
    expect(runWorkload(d).every((v) => v === 0)).toBe(true);
    expect(d.recorded).toEqual([]);
    expect(d.count).toBe(WORKLOAD.length);
  });
});

describe('ReplaySource', () => {
  it('reproduces the answers of a recorded random run bit for bit', () => {
    const orig = new Decider(new RandomSource(2024, 5));
    const answers = runWorkload(orig);
    expect(orig.recorded.length).toBeGreaterThan(10);
    const rsrc = new ReplaySource(orig.recorded);
    const replay = new Decider(rsrc);
    expect(runWorkload(replay)).toEqual(answers);
    expect(replay.recorded).toEqual(orig.recorded);
    expect(rsrc.divergence).toBeNull();
  });

  it('reports divergence when a recorded decision is asked at a different site, answering nominal', () => {
    const src = new ReplaySource([
      { at: 1, site: Site.Pick, value: 2 },
      { at: 3, site: Site.Jitter, value: 1 },
    ]);
    const d = new Decider(src);
    expect(d.decide(Site.Jitter, 4)).toBe(0); // at 0: not listed
    expect(d.decide(Site.IrqDelay, 4)).toBe(0); // at 1: recorded at Pick, asked at IrqDelay
    expect(src.divergence).toEqual({ at: 1, expectedSite: Site.Pick, actualSite: Site.IrqDelay });
    expect(d.decide(Site.Jitter, 4)).toBe(0);
    expect(d.decide(Site.IrqDelay, 4)).toBe(0); // at 3: also diverged, but the first one is kept
    expect(src.divergence).toEqual({ at: 1, expectedSite: Site.Pick, actualSite: Site.IrqDelay });
  });

  it('without site checks, or with site -1, replays values by ordinal (modulo n)', () => {
    const list = [
      { at: 0, site: Site.Pick, value: 3 },
      { at: 1, site: -1, value: 1 },
    ];
    const src = new ReplaySource(list, false);
    const d = new Decider(src);
    expect(d.decide(Site.Jitter, 2)).toBe(1); // 3 % 2
    expect(d.decide(Site.IrqDelay, 4)).toBe(1);
    expect(src.divergence).toBeNull();
    const src2 = new ReplaySource([{ at: 0, site: -1, value: 2 }]);
    expect(new Decider(src2).decide(Site.Jitter, 4)).toBe(2);
    expect(src2.divergence).toBeNull();
  });
});
