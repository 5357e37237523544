// Acceptance for M2 (scheduling and locks): the timer ticks, two threads
// interleave under preemptive round-robin, a spinlock keeps a shared counter
// exact on 1-8 CPUs, and a sleeping mutex hands off on 1-4 CPUs.
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { runScenario, type ScenarioResult } from '../../scenarios/runner.ts';

function lines(r: ScenarioResult): string[] {
  return r.run.serial.split('\n');
}

function expectPass(r: ScenarioResult): void {
  expect(r.reasons, `serial:\n${r.run.serial}`).toEqual([]);
  expect(r.verdict).toBe('pass');
  expect(r.stopReason).toBe('debug-exit');
  expect(r.run.serial).not.toContain('KASSERT:');
}

describe('M2 scheduling and locks', () => {
  it('timer-ticks passes and prints TICK: 100', () => {
    const r = runScenario(resolveScenario('timer-ticks'), { seed: 1 });
    expectPass(r);
    expect(lines(r)).toContain('TICK: 100');
    expect(r.run.serial).toMatch(/TIMER: lapic \d+ per tick at 100 Hz/);
  });

  it('two-threads passes on 1 CPU and its A/B lines interleave both ways', () => {
    const r = runScenario(resolveScenario('two-threads'), { seed: 1, cpus: 1 });
    expectPass(r);
    expect(r.cpus).toBe(1);
    const ab = lines(r).filter((l) => l === 'A' || l === 'B');
    expect(ab.filter((l) => l === 'A')).toHaveLength(12);
    expect(ab.filter((l) => l === 'B')).toHaveLength(12);
    const pairs = new Set<string>();
    for (let i = 1; i < ab.length; i++) pairs.add(ab[i - 1] + ab[i]);
    expect(pairs).toContain('AB');
    expect(pairs).toContain('BA');
    // The same check on the raw serial text: both adjacencies occur.
    const text = ab.join('\n');
    expect(text).toContain('A\nB');
    expect(text).toContain('B\nA');
    expect(lines(r)).toContain('THREADS: done');
  });

  for (const cpus of [1, 2, 4, 8]) {
    it(`lock-stress passes on ${cpus} CPU(s) with the exact count`, () => {
      const r = runScenario(resolveScenario('lock-stress'), { seed: 1, cpus });
      expectPass(r);
      expect(r.cpus).toBe(cpus);
      const threads = 2 * cpus;
      const iters = 200;
      expect(lines(r)).toContain(`LOCK: count ok ${threads * iters}`);
    });
  }

  for (const cpus of [1, 2, 4]) {
    it(`mutex-handoff passes on ${cpus} CPU(s)`, () => {
      const r = runScenario(resolveScenario('mutex-handoff'), { seed: 1, cpus });
      expectPass(r);
      expect(r.cpus).toBe(cpus);
      // 2 threads x 20 iterations (the defaults).
      expect(r.run.serial).toMatch(/^MUTEX: handoff ok 40 handoffs=\d+ contended=\d+$/m);
    });
  }

  it('the scenarios declare the CPU counts this suite runs', () => {
    expect(resolveScenario('lock-stress').cpuCounts).toEqual([1, 2, 4, 8]);
    expect(resolveScenario('mutex-handoff').cpuCounts).toEqual([1, 2, 4]);
  });

  it('other seeds pass too (two seeds per scenario on 2 CPUs)', () => {
    for (const name of ['lock-stress', 'mutex-handoff']) {
      for (const seed of [2, 3]) {
        const r = runScenario(resolveScenario(name), { seed, cpus: 2 });
        expectPass(r);
      }
    }
  });
});
